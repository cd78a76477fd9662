"""``evo bench CONFIG``: its generations serially and on Dask, alternating, in one process."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evo.bench.ceiling import hardware_ceiling
from evo.bench.costs import GenerationCost, median_cost
from evo.bench.laps import _generations

if TYPE_CHECKING:
    from evo.backends.base import Backend
    from evo.config import ExperimentConfig
    from evo.methods import Method
    from evo.problems.base import Problem


@dataclass(frozen=True)
class ConfigBenchResult:
    """``evo bench CONFIG``: per repeat, the median generation of each backend."""

    serial: list[GenerationCost]
    dask: list[GenerationCost]
    workers: int
    threads: int
    num_params: int
    population: int
    identical: bool
    ceiling: float  # the speedup the hardware allows (see hardware_ceiling)
    speedups: list[float]  # per repeat: median over generations of serial / Dask time


def bench_config(
    config: ExperimentConfig,
    *,
    generations: int = 5,
    repeats: int = 3,
    warmup: int = 0,
    scheduler: str | None = None,
    report: Callable[[str], None] = print,
) -> ConfigBenchResult:
    """A few generations of ``config`` serially and on Dask, in this process, ``repeats``
    times (alternating), after one unmeasured generation each (env builds, JIT, imports).

    ``warmup`` generations are first run once in process, so that the measured ones
    are from further into a run (early race-track generations crash within a few
    steps and are not what a run spends its time on).

    Figures are medians over the generations of a repeat, then over repeats. The
    two backends must produce identical fitness; the result says whether they did.
    """
    from evo.methods import make_method
    from evo.problems import make_problem

    problem = make_problem(config)
    method = make_method(config, problem)
    with _backends(config, problem, scheduler) as backends:
        start = method.init(config.seed or 0)
        if warmup:
            _, _, start = _generations(method, backends["serial"], start, warmup)
        workers, threads = backends["dask"].cluster_size()
        ceilings: list[float] = []
        report(
            f"evo bench {config.name}: {config.algorithm.name}, population "
            f"{getattr(start, 'population_size', config.algorithm.population_size)}, "
            f"{problem.policy.num_params:,} parameters; "
            f"dask: {workers} workers, {threads} threads"
        )
        report(
            f"generations {warmup + 2}-{warmup + generations + 1} x {repeats} repeats "
            "(after an unmeasured one), medians"
        )
        results: dict[str, list[GenerationCost]] = {"serial": [], "dask": []}
        identical = True
        speedups: list[float] = []
        for repeat in range(repeats):
            medians, speedup, same = _repeat(method, backends, start, generations)
            identical &= same
            for name in backends:
                results[name].append(medians[name])
            speedups.append(speedup)
            ceilings.append(hardware_ceiling(backends["dask"].client, repeats=1))
            s, d = medians["serial"], medians["dask"]
            report(
                f"  repeat {repeat + 1}: serial {s.wall_s * 1e3:8.1f} ms/gen, "
                f"dask {d.wall_s * 1e3:8.1f} ms/gen, speedup {speedups[-1]:.2f} "
                f"(median of paired ratios), hardware ceiling just after {ceilings[-1]:.2f}"
            )
    result = ConfigBenchResult(
        serial=results["serial"],
        dask=results["dask"],
        workers=workers,
        threads=threads,
        num_params=problem.policy.num_params,
        population=getattr(start, "population_size", config.algorithm.population_size),
        identical=identical,
        ceiling=statistics.median(ceilings),
        speedups=speedups,
    )
    _report_config(result, report)
    return result


@contextmanager
def _backends(
    config: ExperimentConfig, problem: Problem, scheduler: str | None
) -> Iterator[dict[str, Backend]]:
    """The serial backend and a Dask one, on one BLAS thread here; both closed at the end."""
    import dataclasses

    from threadpoolctl import threadpool_limits

    from evo.backends.dask import DaskBackend
    from evo.backends.serial import SerialBackend

    # Serial on one BLAS thread, like each worker, and no spinning BLAS threads here
    # taking CPU from the workers (as `evo run` does beside an embedded cluster).
    limits = threadpool_limits(limits=1, user_api="blas")
    serial = SerialBackend(problem, config.backend)
    dask = DaskBackend(
        problem, dataclasses.replace(config.backend, kind="dask"), scheduler=scheduler
    )
    dask.wait_for_workers()  # no generation measured in process while they start
    backends: dict[str, Backend] = {"serial": serial, "dask": dask}
    if config.policy.normalize_observations:  # a run's cost: the first generation's normaliser
        from evo.backends import Normalizing
        from evo.problems.normalization import ObservationStats

        stats = ObservationStats.zeros(problem.policy.obs_dim)  # type: ignore[attr-defined]
        normalizer = stats.normalizer(config.policy.observation_clip)
        backends = {name: Normalizing(b, normalizer) for name, b in backends.items()}  # type: ignore[misc]
    try:
        yield backends
    finally:
        dask.close()
        limits.restore_original_limits()


def _repeat(
    method: Method,
    backends: dict[str, Backend],
    start: Any,
    generations: int,
) -> tuple[dict[str, GenerationCost], float, bool]:
    """One repeat: ``generations + 1`` generations from ``start`` on each backend. Per
    backend the median measured generation, the median of the paired serial / Dask
    ratios, and whether both backends' fitness was identical in every generation."""
    # Generation by generation, alternating backends: on a shared machine the
    # speed drifts, and a paired ratio per generation cancels most of it.
    states = dict.fromkeys(backends, start)
    costs: dict[str, list[GenerationCost]] = {name: [] for name in backends}
    identical = True
    for _ in range(generations + 1):
        fitness = {}
        for name, backend in backends.items():
            cost, (fitness[name],), states[name] = _generations(method, backend, states[name], 1)
            costs[name] += cost
        identical &= np.array_equal(fitness["serial"], fitness["dask"], equal_nan=True)
    measured = {name: cost[1:] for name, cost in costs.items()}  # the first is unmeasured
    ratios = [
        s.wall_s / d.wall_s for s, d in zip(measured["serial"], measured["dask"], strict=True)
    ]
    medians = {name: median_cost(cost) for name, cost in measured.items()}
    return medians, statistics.median(ratios), identical


def _report_config(result: ConfigBenchResult, report: Callable[[str], None]) -> None:
    s, d = median_cost(result.serial), median_cost(result.dask)
    speedup = statistics.median(result.speedups)
    rows = [
        ("evaluations/s", f"{s.members / s.wall_s:,.0f}", f"{d.members / d.wall_s:,.0f}"),
        ("generation (ms)", f"{s.wall_s * 1e3:.1f}", f"{d.wall_s * 1e3:.1f}"),
        ("env steps/s", f"{s.env_steps / s.wall_s:,.0f}", f"{d.env_steps / d.wall_s:,.0f}"),
        ("  evaluate (ms)", f"{s.evaluate_s * 1e3:.1f}", f"{d.evaluate_s * 1e3:.1f}"),
        ("  longest task (ms)", f"{s.longest_task_s * 1e3:.1f}", f"{d.longest_task_s * 1e3:.1f}"),
        ("  ask + tell (ms)", f"{s.strategy_s * 1e3:.1f}", f"{d.strategy_s * 1e3:.1f}"),
        (
            "orchestration overhead (ms/gen)",
            f"{s.overhead_s * 1e3:.1f}",
            f"{d.overhead_s * 1e3:.1f}",
        ),
        ("bytes sent / gen", "-", f"{d.bytes_sent:,.0f}"),
        ("bytes received / gen", "-", f"{d.bytes_received:,.0f}"),
        ("dask worker transfers / gen", "-", f"{d.transfer_bytes:,.0f}"),
    ]
    report(f"{'':34}{'serial':>14}{'dask':>14}")
    for label, a, b in rows:
        report(f"{label:34}{a:>14}{b:>14}")
    runs = ", ".join(f"{x:.2f}" for x in result.speedups)
    report(f"speedup (dask vs serial)          {speedup:.2f}  (repeats: {runs})")
    report(f"parallel efficiency               {speedup / max(1, result.threads):.0%}")
    report(
        f"hardware ceiling                  {result.ceiling:.2f}  (the same CPU-bound task on "
        f"all {result.threads} threads at once vs alone; no scheduler beats it)"
    )
    dense = result.population * result.num_params * 4
    moved = d.bytes_sent + d.bytes_received + d.transfer_bytes
    report(
        f"traffic vs shipping every member's vector: {moved:,.0f} of {dense:,.0f} bytes "
        f"({moved / dense:.3%})"
    )
    report(f"fitness identical on both backends: {'yes' if result.identical else 'NO'}")
