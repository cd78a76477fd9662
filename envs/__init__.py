"""The project's own gymnasium environments; importing this package registers them.

- ``envs/RaceTrack-v0``: a car on a race track (see :mod:`envs.racetrack`), one
  car per env, or many in lockstep through ``gymnasium.make_vec`` (the vector
  entry point, autoreset disabled, one reset seed per car).
"""

from envs import numba_cache

numba_cache.install()  # before any of the project's cached functions is defined

import gymnasium  # noqa: E402

from envs.racetrack import MAX_EPISODE_STEPS  # noqa: E402

if "envs/RaceTrack-v0" not in gymnasium.registry:
    gymnasium.register(
        id="envs/RaceTrack-v0",
        entry_point="envs.racetrack.env:RaceTrackEnv",
        vector_entry_point="envs.racetrack.env:RaceTrackVectorEnv",
        max_episode_steps=MAX_EPISODE_STEPS,
        reward_threshold=900.0,
    )
