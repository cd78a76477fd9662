"""The project's own gymnasium environments; importing this package registers them.

- ``envs/RaceTrack-v0``: a car on a race track (see :mod:`envs.racetrack`), one
  car per env, or many in lockstep through ``gymnasium.make_vec`` (the vector
  entry point, autoreset disabled, one reset seed per car).
"""

import gymnasium

from envs.racetrack import MAX_EPISODE_STEPS

if "envs/RaceTrack-v0" not in gymnasium.registry:
    gymnasium.register(
        id="envs/RaceTrack-v0",
        entry_point="envs.racetrack.env:RaceTrackEnv",
        vector_entry_point="envs.racetrack.env:RaceTrackVectorEnv",
        max_episode_steps=MAX_EPISODE_STEPS,
        reward_threshold=900.0,
    )
