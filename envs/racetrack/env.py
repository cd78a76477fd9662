"""gymnasium interfaces to the race track: one car (``RaceTrackEnv``) or many in lockstep
(``RaceTrackVectorEnv``, for ``gymnasium.make_vec``).

The track of an episode is the procedural track of the reset seed, unless a fixed
``track`` (a name or a seed) is given. Observations: ``num_rays`` (default 9)
rangefinder distances (divided by the range), the speed (divided by top speed) and
the steering; actions:
steering and throttle/brake in [-1, 1]. Reward: 1000 per lap of progress along the
centreline, minus 0.1 per step; the episode ends on leaving the track or finishing
the laps, and is truncated at the step limit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from envs.racetrack import MAX_EPISODE_STEPS
from envs.racetrack.sim import NUM_RAYS, RaceSim, TrackSet
from envs.racetrack.track import Track, get_track

ACTION_SPACE = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def observation_space(num_rays: int) -> spaces.Box:
    """Ray distances (fractions of the range), speed (fraction of top speed), steering."""
    return spaces.Box(-1.0, 1.0, shape=(num_rays + 2,), dtype=np.float32)


def _check_arguments(track: str | int | None, laps: int, num_rays: int) -> None:
    """Reject bad constructor arguments at once, not at the first reset."""
    if isinstance(track, int) and not 0 <= track < 2**32:
        raise ValueError(f"track: expected a name or a seed in [0, 2**32), got {track}")
    if track is not None:
        get_track(track)  # raises TrackError (a ValueError) for an unknown name
    if not isinstance(laps, int) or laps < 1:
        raise ValueError(f"laps: expected a positive integer, got {laps!r}")
    if not isinstance(num_rays, int) or num_rays < 1:
        raise ValueError(f"num_rays: expected a positive integer, got {num_rays!r}")


def _track_for(track: str | int | None, seed: int | None, rng: np.random.Generator) -> Track:
    if track is not None:
        return get_track(track)
    return get_track(int(seed) if seed is not None else int(rng.integers(2**31)))


class RaceTrackEnv(gymnasium.Env):
    """One car on a race track."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_space = ACTION_SPACE

    def __init__(
        self,
        track: str | int | None = None,
        laps: int = 1,
        num_rays: int = NUM_RAYS,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        _check_arguments(track, laps, num_rays)
        self.track_key, self.laps, self.render_mode = track, laps, render_mode
        self.num_rays = num_rays
        self.observation_space = observation_space(num_rays)
        self.sim: RaceSim | None = None
        self.trail: list[tuple[float, float]] = []

    @property
    def track(self) -> Track:
        """The current episode's track."""
        assert self.sim is not None, "call reset() first"
        return self.sim.tracks.tracks[0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        track = _track_for(self.track_key, seed, self.np_random)
        self.sim = RaceSim(
            TrackSet.of([track]), np.zeros(1, dtype=np.int64), self.laps, self.num_rays
        )
        obs = self.sim.reset()[0]
        self.trail = [(float(self.sim.x[0]), float(self.sim.y[0]))]
        return obs, {"track": track.name}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.sim is not None, "call reset() first"
        obs, reward, done = self.sim.step(np.asarray(action, dtype=np.float64).reshape(1, 2))
        self.trail.append((float(self.sim.x[0]), float(self.sim.y[0])))
        info = {"progress": float(self.sim.progress[0]), "crashed": bool(self.sim.crashed[0])}
        return obs[0], float(reward[0]), bool(done[0]), False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.sim is None:
            return None
        from envs.racetrack.render import render_frame

        return render_frame(self.sim, car=0, trail=np.array(self.trail))


class RaceTrackVectorEnv(VectorEnv):
    """Many cars in lockstep, car ``i`` on the track of its own reset seed.

    Autoreset is disabled: a car that finished or left the track stays frozen
    (reward 0, same observation) until the next ``reset``, which is what an
    evaluation wants (every car drives exactly one episode).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.DISABLED,
    }

    def __init__(
        self,
        num_envs: int = 1,
        track: str | int | None = None,
        laps: int = 1,
        num_rays: int = NUM_RAYS,
        max_episode_steps: int = MAX_EPISODE_STEPS,
    ) -> None:
        _check_arguments(track, laps, num_rays)
        self.num_envs = num_envs
        self.track_key, self.laps, self.max_episode_steps = track, laps, max_episode_steps
        self.num_rays = num_rays
        self.single_observation_space = observation_space(num_rays)
        self.single_action_space = ACTION_SPACE
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gymnasium.vector.utils.batch_space(ACTION_SPACE, num_envs)
        self.sim: RaceSim | None = None
        self.elapsed = 0  # steps since the reset; no car has had more

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, int):
            seeds: list[int | None] = [seed + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        super().reset(seed=seeds[0])
        # Cars on the same track share its geometry.
        tracks: dict[str, tuple[int, Track]] = {}
        track_of = np.empty(self.num_envs, dtype=np.int64)
        for car, car_seed in enumerate(seeds):
            track = _track_for(self.track_key, car_seed, self.np_random)
            track_of[car] = tracks.setdefault(track.name, (len(tracks), track))[0]
        tracks_used = TrackSet.of([t for _, t in tracks.values()])
        self.sim = RaceSim(tracks_used, track_of, self.laps, self.num_rays)
        self.elapsed = 0
        return self.sim.reset(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        sim = self.sim
        assert sim is not None, "call reset() first"
        self.elapsed += 1
        obs, rewards, terminated = sim.advance(actions)
        if self.elapsed < self.max_episode_steps:  # no car has had that many steps yet
            truncated = np.zeros(self.num_envs, dtype=bool)
        else:
            truncated = sim.moved >= self.max_episode_steps
            np.greater(truncated, terminated, out=truncated)  # and not terminated
            np.greater(sim.alive, truncated, out=sim.alive)  # and not truncated
        return obs, rewards, terminated, truncated, {}
