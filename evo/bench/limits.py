"""What one core can do for an env at best: its lane-steps per CPU-second with no policy.

``evo bench CONFIG`` sets the training's per-worker env steps/s against this figure.
Which kernel is the limit depends on the env:

- the MuJoCo locomotion envs (:mod:`envs.locomotion`): raw
  ``mujoco.mj_step(model, data, nstep=frame_skip)`` a lane, health terminations off
  (the floor any Python driver of MuJoCo pays, see :mod:`evo.bench.locomotion`);
- the race track: its simulator (:class:`envs.racetrack.sim.RaceSim`), a car whose
  episode ends starting again at once (the kernel :mod:`evo.bench.env` times with a
  policy);
- an env with a lockstep vector version: that vector env, as
  :func:`evo.problems.rollout.make_vector_env` builds it, stepped with fixed actions;
- any other gymnasium env: a pool of its envs stepped one by one, as a chunk steps them;
- a function or a data set: no env, no limit (None).

Every kernel is fed a fixed action pattern (alternating the discrete actions, zeros in
a box; full throttle, straight ahead on the race track), so the figure is the env's
own cost. CPU time of this process is measured: the figure is per core. Resets are not
timed (except the race track's, which its kernel does in place).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import gymnasium
import numpy as np

from evo.config import EnvConfig, ExperimentConfig

RACE_TRACK = "envs/RaceTrack-v0"
MIN_CPU_S = 0.25  # CPU time a measurement runs for, at least


def limit_kind(config: ExperimentConfig) -> str | None:
    """What the single-core limit of ``config``'s problem is measured with, or None."""
    if config.function is not None or config.data is not None:
        return None
    env = config.env
    from envs.locomotion import TASKS
    from evo.problems.rollout import has_lockstep_version

    if env.entry_point is None and env.id in TASKS:
        return "mj_step"
    if env.entry_point is None and env.id == RACE_TRACK:
        return "race-track kernel"
    if has_lockstep_version(env) or _has_vector_entry_point(env):
        return "vector env"
    return "single envs"


def describe(kind: str, env_id: str, lanes: int) -> str:
    """A short phrase for the table: what was stepped, on how many lanes."""
    what = {
        "mj_step": f"raw mujoco.mj_step of {env_id}",
        "race-track kernel": "the race-track simulator",
        "vector env": f"{env_id}'s lockstep vector env",
        "single envs": f"{env_id} envs one by one",
    }[kind]
    return f"{what}, {lanes} lanes, fixed actions, no policy"


def measure_limit(config: ExperimentConfig, lanes: int, min_cpu_s: float = MIN_CPU_S) -> float:
    """Lane-steps per CPU-second of ``config``'s env kernel on ``lanes`` lanes (one figure).

    Raises ValueError for a problem without an env (see :func:`limit_kind`).
    """
    kind = limit_kind(config)
    if kind is None:
        raise ValueError(f"{config.name}: a function or data problem has no env limit")
    lanes = max(1, int(lanes))
    if kind == "mj_step":
        return _mujoco_rate(config.env.id, lanes, min_cpu_s)
    if kind == "race-track kernel":
        return _race_track_rate(config.env, lanes, min_cpu_s)
    return _lockstep_rate(config.env, lanes, min_cpu_s, vector=kind == "vector env")


def _has_vector_entry_point(env: EnvConfig) -> bool:
    if env.entry_point is not None:
        return False
    spec = gymnasium.spec(env.id)
    return spec.vector_entry_point is not None


def _pattern(space: gymnasium.Space, lanes: int) -> list[np.ndarray]:
    """The fixed actions, step by step in turn: each discrete action, or zeros in a box."""
    if isinstance(space, gymnasium.spaces.Discrete):
        first = int(space.start)
        return [np.full(lanes, first + a, dtype=np.int64) for a in range(int(space.n))]
    low = np.broadcast_to(np.asarray(space.low, dtype=np.float32), space.shape)
    high = np.broadcast_to(np.asarray(space.high, dtype=np.float32), space.shape)
    zero = np.clip(np.zeros(space.shape, dtype=np.float32), low, high)
    return [np.broadcast_to(zero, (lanes, *space.shape)).copy()]


class _Pool:
    """``lanes`` single envs stepped one by one, as a vector env without autoreset (a lane
    that ended is not stepped again until the next reset): the other envs' chunks."""

    def __init__(self, env: EnvConfig, lanes: int) -> None:
        from evo.problems.rollout import make_env

        self.envs = [make_env(env) for _ in range(lanes)]
        self.single_action_space = self.envs[0].action_space
        self.ended = np.ones(lanes, dtype=bool)

    def reset(self, seed: list[int]) -> None:
        for env, lane_seed in zip(self.envs, seed, strict=True):
            env.reset(seed=lane_seed)
        self.ended[:] = False

    def step(self, actions: np.ndarray) -> tuple[None, None, np.ndarray, np.ndarray, dict]:
        for lane in np.flatnonzero(~self.ended):
            action = actions[lane]
            _, _, terminated, truncated, _ = self.envs[lane].step(
                action if np.ndim(action) else action.item()
            )
            self.ended[lane] = terminated or truncated
        return None, None, self.ended.copy(), np.zeros_like(self.ended), {}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _lockstep_rate(env: EnvConfig, lanes: int, min_cpu_s: float, *, vector: bool) -> float:
    """Live lane-steps per CPU-second of the env's vector version (or a pool of its envs),
    episode after episode until ``min_cpu_s`` of stepping; resets are not timed."""
    from evo.problems.rollout import make_vector_env

    lockstep = make_vector_env(env, lanes) if vector else _Pool(env, lanes)
    try:
        pattern = _pattern(lockstep.single_action_space, lanes)
        stepped, cpu_s, episode = 0, 0.0, 0
        warm = False  # the first episode compiles and fills caches: not measured
        while cpu_s < min_cpu_s:
            lockstep.reset(seed=[episode * lanes + lane for lane in range(lanes)])
            episode += 1
            alive = np.ones(lanes, dtype=bool)
            live, index = 0, 0
            start = time.process_time()
            while alive.any():
                _, _, terminated, truncated, _ = lockstep.step(pattern[index % len(pattern)])
                live += np.count_nonzero(alive)
                alive &= ~(terminated | truncated)
                index += 1
                if index % 256 == 0 and time.process_time() - start > min_cpu_s:
                    break  # an env that never ends (or a very long episode): enough
            if warm:
                cpu_s += time.process_time() - start
                stepped += live
            warm = True
        return stepped / cpu_s
    finally:
        lockstep.close()


def _mujoco_rate(env_id: str, lanes: int, min_cpu_s: float) -> float:
    """Raw ``mj_step`` lane-steps per CPU-second (:func:`evo.bench.locomotion.measure`)."""
    from evo.bench.locomotion import measure

    zeros = _pattern(_action_space(env_id), lanes)[0].astype(np.float32)

    def rate(steps: int) -> float:
        return measure(env_id, "raw", np.broadcast_to(zeros, (steps, *zeros.shape)))

    return _long_enough(rate, lanes, min_cpu_s)


@functools.cache
def _action_space(env_id: str) -> gymnasium.Space:
    """The env's action space, its env made once per process (MuJoCo models are slow)."""
    env = gymnasium.make(env_id, disable_env_checker=True)
    try:
        return env.action_space
    finally:
        env.close()


def _long_enough(rate: Callable[[int], float], lanes: int, min_cpu_s: float) -> float:
    """``rate(steps)`` for enough steps to take ``min_cpu_s``, sized by a short first run
    (which also pays for first-call costs)."""
    probe = rate(10)
    steps = max(10, int(np.ceil(min_cpu_s * probe / lanes)))
    return rate(steps)


def _race_track_rate(env: EnvConfig, lanes: int, min_cpu_s: float) -> float:
    """Car-steps per CPU-second of the race-track simulator: ``env.episodes`` tracks (each
    member drives them all), full throttle straight ahead, a car that ends restarting."""
    from envs.racetrack.sim import NUM_RAYS, RaceSim, TrackSet
    from envs.racetrack.track import get_track

    kwargs = env.kwargs
    track = kwargs.get("track")
    keys = [track] if track is not None else list(range(min(env.episodes, lanes)))
    tracks = TrackSet.of([get_track(key) for key in keys])
    sim = RaceSim(
        tracks,
        np.arange(lanes) % len(keys),
        laps=kwargs.get("laps", 1),
        num_rays=kwargs.get("num_rays", NUM_RAYS),
    )
    actions = np.zeros((lanes, 2))
    actions[:, 1] = 1.0  # steering 0, full throttle

    def rate(steps: int) -> float:
        sim.reset()
        start = time.process_time()
        for _ in range(steps):
            _, _, done = sim.step(actions)
            if done.any():
                sim.reset(np.flatnonzero(done))
        return lanes * steps / max(time.process_time() - start, 1e-9)

    return _long_enough(rate, lanes, min_cpu_s)
