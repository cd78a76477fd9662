"""MuJoCo locomotion steps per CPU-second: raw ``mj_step``, gymnasium's env, evo's lockstep
version (:mod:`envs.locomotion`), side by side on the same trajectories.

``python -m evo.bench.locomotion [--lanes 16] [--steps 200] [--repeats 5] [ENV_ID ...]``

Each repeat measures the three in turn (interleaved, so that a change of the
machine's load hits all three alike) on ``lanes`` episodes of the same reset seeds,
fed the same random actions: the three compute the very same physics (the
lockstep version's bits are gymnasium's). Health terminations are switched off,
so every lane moves on every step. CPU time of this process is measured: the
figures are per core. ``raw`` is the floor of what any Python driver of MuJoCo
pays: setting ``ctrl`` and one ``mj_step(model, data, nstep=frame_skip)`` a lane.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np

from envs.locomotion import TASKS, LocomotionVectorEnv

WAYS = ("raw", "gymnasium", "lockstep")


@dataclass(frozen=True)
class LocomotionBenchResult:
    """Lane-steps per CPU-second of one env, one figure per repeat for each way."""

    env_id: str
    lanes: int
    rates: dict[str, list[float]]

    def median(self, way: str) -> float:
        """Median over the repeats."""
        return statistics.median(self.rates[way])

    def ratio(self, way: str) -> float:
        """Median over the repeats of ``way`` / raw, each taken in the same repeat."""
        pairs = zip(self.rates[way], self.rates["raw"], strict=True)
        return statistics.median(rate / raw for rate, raw in pairs)


def _kwargs(env_id: str) -> dict[str, bool]:
    return {} if TASKS[env_id].health is None else {"terminate_when_unhealthy": False}


def _lockstep(env_id: str, lanes: int) -> LocomotionVectorEnv:
    vector = LocomotionVectorEnv(env_id, lanes, **_kwargs(env_id))
    vector.reset(seed=list(range(lanes)))
    return vector


def _timed(step: Callable[[int], None], steps: int, lanes: int) -> float:
    start = time.process_time()
    for index in range(steps):
        step(index)
    return lanes * steps / max(time.process_time() - start, 1e-9)


def measure(env_id: str, way: str, actions: np.ndarray) -> float:
    """Lane-steps per CPU-second of ``way`` over ``actions`` ``(steps, lanes, nu)``."""
    import mujoco

    steps, lanes = actions.shape[:2]
    if way == "raw":
        vector = _lockstep(env_id, lanes)  # its reset states, stepped by hand
        model, frame_skip = vector.model, vector.frame_skip
        datas = vector.datas

        def step(index: int) -> None:
            for lane, data in enumerate(datas):
                data.ctrl[:] = actions[index, lane]
                mujoco.mj_step(model, data, nstep=frame_skip)

        return _timed(step, steps, lanes)
    if way == "gymnasium":
        envs = [
            gymnasium.make(env_id, disable_env_checker=True, **_kwargs(env_id))
            for _ in range(lanes)
        ]
        for lane, env in enumerate(envs):
            env.reset(seed=lane)
        return _timed(
            lambda index: [env.step(actions[index, lane]) for lane, env in enumerate(envs)],
            steps,
            lanes,
        )
    vector = _lockstep(env_id, lanes)
    return _timed(lambda index: vector.step(actions[index]), steps, lanes)


def bench_locomotion(
    env_ids: Sequence[str] = ("HalfCheetah-v5", "Hopper-v5"),
    lanes: int = 16,
    steps: int = 200,
    repeats: int = 5,
    report: Callable[[str], None] = print,
) -> list[LocomotionBenchResult]:
    """Raw ``mj_step``, gymnasium and the lockstep version, interleaved, per env."""
    results = []
    report(f"lane-steps per CPU-second, {lanes} lanes x {steps} steps, medians of {repeats}")
    for env_id in env_ids:
        space = gymnasium.spec(env_id).make(disable_env_checker=True).action_space
        rng = np.random.default_rng(0)
        actions = rng.uniform(space.low, space.high, (steps, lanes, *space.shape))
        rates: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(repeats):
            for way in WAYS:
                rates[way].append(measure(env_id, way, actions.astype(np.float32)))
        result = LocomotionBenchResult(env_id, lanes, rates)
        results.append(result)
        report(
            f"{env_id:>16}  raw {result.median('raw'):8.0f}  gymnasium "
            f"{result.median('gymnasium'):8.0f} ({result.ratio('gymnasium'):.2f} x raw)  "
            f"lockstep {result.median('lockstep'):8.0f} ({result.ratio('lockstep'):.2f} x raw)"
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of ``python -m evo.bench.locomotion``."""
    parser = argparse.ArgumentParser(prog="python -m evo.bench.locomotion")
    parser.add_argument("env_ids", nargs="*", default=["HalfCheetah-v5", "Hopper-v5"])
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.env_ids) - set(TASKS))
    if unknown:
        parser.error(f"unknown env id {unknown[0]!r}: expected one of {', '.join(sorted(TASKS))}")
    bench_locomotion(args.env_ids, args.lanes, args.steps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
