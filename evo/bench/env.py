"""``evo bench env``: race-track car-steps per CPU-second, policy forward pass included."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnvBenchResult:
    """Race-track throughput at one batch size."""

    cars: int
    car_steps_per_cpu_s: list[float]  # one figure per repeat

    @property
    def median(self) -> float:
        """Median over the repeats."""
        return statistics.median(self.car_steps_per_cpu_s)


def bench_env(
    cars: Sequence[int] = (1, 64, 256, 1024),
    repeats: int = 5,
    steps: int = 100,
    tracks: int = 8,
    hidden_sizes: tuple[int, ...] = (32, 32),
    report: Callable[[str], None] = print,
) -> list[EnvBenchResult]:
    """Car-steps per CPU-second of the race track, policy forward pass included.

    ``cars`` cars (members x ``tracks`` tracks, as an evaluation batches them)
    step in lockstep; a car whose episode ends starts again at once, so every
    step moves all ``cars`` cars. CPU time of this process is measured, so the
    figure is per core.
    """
    from envs.racetrack.sim import RaceSim, TrackSet
    from envs.racetrack.track import get_track
    from evo.policies import MLPSpec

    track_set = TrackSet.of([get_track(seed) for seed in range(tracks)])
    results = []
    report(
        f"{'cars':>6}  {'car-steps per CPU-second (median of ' + str(repeats) + ')':>44}  all runs"
    )
    for count in cars:
        per_member = min(tracks, count)
        members = count // per_member
        sim = RaceSim(track_set, np.arange(members * per_member) % tracks)
        spec = MLPSpec(
            obs_dim=sim.obs_dim,
            hidden_sizes=hidden_sizes,
            out_dim=2,
            action="continuous",
            action_shape=(2,),
            action_low=(-1.0, -1.0),
            action_high=(1.0, 1.0),
        )
        rng = np.random.default_rng(0)
        params = (rng.standard_normal((members, spec.num_params)) * 0.5).astype(np.float32)
        params[:, -1] += 1.0  # a throttle bias: cars drive rather than idle
        figures = []
        for _ in range(repeats):
            obs = sim.reset()
            start = time.process_time()
            for _ in range(steps):
                actions = spec.act(params, obs.reshape(members, per_member, -1))
                obs, _, done = sim.step(actions.reshape(-1, 2))
                if done.any():
                    obs = sim.reset(np.flatnonzero(done))
            figures.append(members * per_member * steps / (time.process_time() - start))
        result = EnvBenchResult(members * per_member, figures)
        results.append(result)
        runs = " ".join(f"{f / 1000:.0f}k" for f in figures)
        report(f"{result.cars:>6}  {result.median:>44,.0f}  {runs}")
    return results
