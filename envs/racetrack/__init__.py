"""The race track: procedural tracks, a batched car simulator, gymnasium envs."""

MAX_EPISODE_STEPS = 1000  # registered for envs/RaceTrack-v0 (100 s of driving)
