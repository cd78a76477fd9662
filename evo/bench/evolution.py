"""``evo bench CONFIG``: its generations serially and on Dask, alternating, in one process."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evo.bench.ceiling import hardware_ceiling
from evo.bench.costs import GenerationCost, median_cost
from evo.bench.figures import report_config
from evo.bench.laps import _generations
from evo.bench.limits import limit_kind, measure_limit

if TYPE_CHECKING:
    from evo.backends.base import Backend
    from evo.config import ExperimentConfig
    from evo.methods import Method
    from evo.problems.base import Problem


@dataclass(frozen=True)
class ConfigBenchResult:
    """``evo bench CONFIG``: per repeat, the median generation of each backend, and the
    limits measured just after it (the hardware ceiling, the env's single-core limit)."""

    serial: list[GenerationCost]
    dask: list[GenerationCost]
    workers: int
    threads: int
    num_params: int
    population: int
    identical: bool
    ceiling: float  # the speedup the hardware allows (see hardware_ceiling), median
    speedups: list[float]  # per repeat: median over generations of serial / Dask time
    name: str = ""
    algorithm: str = ""
    generations: int = 0
    warmup: int = 0
    env_id: str | None = None  # None: a function or data problem
    episodes: int = 1  # lanes a member holds
    ceilings: list[float] = field(default_factory=list)  # per repeat
    limit_kind: str | None = None  # what the env limit steps (see evo.bench.limits), or None
    lanes: int = 0  # the limit's lanes: the first repeat's largest Dask task's
    limits: list[float] = field(default_factory=list)  # per repeat: lane-steps per CPU-second


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

    After each repeat, the hardware ceiling (:func:`hardware_ceiling`) and the env's
    single-core limit (:mod:`evo.bench.limits`, on as many lanes as the largest Dask
    task of the first repeat held) are measured, while the workers are idle.

    Figures are medians over the generations of a repeat, then over repeats. The
    two backends must produce identical fitness; the result says whether they did.
    """
    from evo.methods import make_method
    from evo.problems import make_problem

    problem = make_problem(config)
    method = make_method(config, problem)
    episodes = problem.episodes_per_member()
    with _backends(config, problem, scheduler) as backends:
        start = method.init(config.seed or 0)
        if warmup:
            _, _, start = _generations(method, backends["serial"], start, warmup)
        workers, threads = backends["dask"].cluster_size()
        population = getattr(start, "population_size", config.algorithm.population_size)
        report(
            f"evo bench {config.name}: {config.algorithm.name}, population {population}, "
            f"{problem.policy.num_params:,} parameters; "
            f"dask: {workers} workers, {threads} threads"
        )
        report(
            f"generations {warmup + 2}-{warmup + generations + 1} x {repeats} repeats "
            "(after an unmeasured one), medians"
        )
        measured = _repeats(method, backends, start, config, episodes, generations, repeats, report)
    result = ConfigBenchResult(
        **measured,
        workers=workers,
        threads=threads,
        num_params=problem.policy.num_params,
        population=population,
        ceiling=statistics.median(measured["ceilings"]),
        name=config.name,
        algorithm=config.algorithm.name,
        generations=generations,
        warmup=warmup,
        env_id=None if measured["limit_kind"] is None else config.env.id,
        episodes=episodes,
    )
    report_config(result, report)
    return result


def _repeats(
    method: Method,
    backends: dict[str, Backend],
    start: Any,
    config: ExperimentConfig,
    episodes: int,
    generations: int,
    repeats: int,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """The repeats, each followed by the hardware ceiling and the env limit: the fields of
    :class:`ConfigBenchResult` they measure."""
    kind = limit_kind(config)
    measured: dict[str, Any] = {
        "serial": [],
        "dask": [],
        "identical": True,
        "speedups": [],
        "ceilings": [],
        "limit_kind": kind,
        "lanes": 0,
        "limits": [],
    }
    for repeat in range(repeats):
        medians, speedup, same = _repeat(method, backends, start, generations)
        measured["identical"] &= same
        for name in backends:
            measured[name].append(medians[name])
        measured["speedups"].append(speedup)
        ceiling = hardware_ceiling(backends["dask"].client, repeats=1)
        measured["ceilings"].append(ceiling)
        s, d = medians["serial"], medians["dask"]
        line = (
            f"  repeat {repeat + 1}: serial {s.wall_s * 1e3:8.1f} ms/gen, "
            f"dask {d.wall_s * 1e3:8.1f} ms/gen, speedup {speedup:.2f} "
            f"(median of paired ratios), hardware ceiling just after {ceiling:.2f}"
        )
        if kind is not None:  # on as many lanes as the first repeat's largest Dask task held
            lanes = measured["lanes"] or max(1, math.ceil(d.members * episodes / max(d.tasks, 1)))
            measured["lanes"] = lanes
            measured["limits"].append(measure_limit(config, lanes))
            line += f", env limit {measured['limits'][-1]:,.0f} lane-steps/CPU-s"
        report(line)
    return measured


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
    # the cluster at once, and every generation on it: what Dask costs and gives
    on_the_cluster = dataclasses.replace(
        config.backend, kind="dask", start_after_s=0.0, placement="cluster"
    )
    dask = DaskBackend(problem, on_the_cluster, scheduler=scheduler)
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
