"""``evo bench CONFIG`` of a gradient config: the same rounds in process, on 1 and 2 workers."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from evo.bench.ceiling import _task_ceiling, hardware_ceiling
from evo.bench.costs import RoundCost, median_cost
from evo.bench.laps import _rounds

if TYPE_CHECKING:
    from evo.backends.base import Backend
    from evo.config import ExperimentConfig
    from evo.problems.base import Problem


def bench_gradient(
    config: ExperimentConfig,
    *,
    rounds: int = 5,
    repeats: int = 3,
    report: Callable[[str], None] = print,
) -> dict[str, float]:
    """Data-parallel scaling of a ``mode: gradient`` config: the same rounds in process,
    on an embedded cluster of 1 worker and on one of 2 (single-threaded workers),
    alternating round by round so machine drift cancels in the paired ratios.

    Prints per backend the median round and its split (the longest task's compute,
    the backend's overhead beyond it, the reduction and optimizer step), the speedup
    of 2 workers over 1 (median of paired ratios, per repeat), and whether all three
    ended with bit-identical parameters.
    """
    from evo.methods import make_method as make_trainer
    from evo.problems import make_problem

    problem = make_problem(config)
    trainer = make_trainer(config, problem)
    with _backends(config, problem) as backends:
        start = trainer.init(config.seed or 0)
        report(
            f"evo bench {config.name}: gradient ({trainer.name}), batch "
            f"{config.gradient.batch_size}, {config.gradient.shards} shards, "
            f"{problem.policy.num_params:,} parameters"
        )
        report(f"rounds 2-{rounds + 1} x {repeats} repeats (after an unmeasured one), medians")
        results: dict[str, list[RoundCost]] = {name: [] for name in backends}
        speedups: list[float] = []
        ceilings: list[float] = []
        task_ceilings: list[float] = []
        identical = True
        for repeat in range(repeats):
            costs, same = _repeat(trainer, backends, start, rounds)
            identical &= same
            for name in backends:
                results[name] += costs[name][1:]
            ratios = [
                one.wall_s / two.wall_s
                for one, two in zip(costs["1 worker"][1:], costs["2 workers"][1:], strict=True)
            ]
            speedups.append(statistics.median(ratios))
            ceilings.append(hardware_ceiling(backends["2 workers"].client, repeats=1))
            task_ceilings.append(_task_ceiling(backends["2 workers"].client, trainer, start))
            report(
                f"  repeat {repeat + 1}: "
                + ", ".join(
                    f"{name} {statistics.median(c.wall_s for c in costs[name][1:]) * 1e3:.1f} ms"
                    for name in backends
                )
                + f"; 2 vs 1 workers {speedups[-1]:.2f}, hardware ceiling just after "
                f"{ceilings[-1]:.2f}, this task's {task_ceilings[-1]:.2f}"
            )
    return _report_gradient(results, speedups, ceilings, task_ceilings, identical, report)


@contextmanager
def _backends(config: ExperimentConfig, problem: Problem) -> Iterator[dict[str, Backend]]:
    """In process, and embedded clusters of 1 and 2 workers, on one BLAS thread here."""
    import dataclasses

    from threadpoolctl import threadpool_limits

    from evo.backends.dask import DaskBackend
    from evo.backends.serial import SerialBackend

    # Serial on one BLAS thread like each worker; numpy's spinning BLAS threads in this
    # process would otherwise take CPU from the workers between their rounds.
    limits = threadpool_limits(limits=1, user_api="blas")
    backends: dict[str, Backend] = {"serial": SerialBackend(problem, config.backend)}
    try:
        for workers in (1, 2):
            # the cluster at once, and every round on it: what Dask costs and gives
            settings = dataclasses.replace(
                config.backend,
                kind="dask",
                workers=workers,
                scheduler=None,
                start_after_s=0.0,
                placement="cluster",
            )
            dask = DaskBackend(problem, settings)
            backends[f"{workers} worker{'s' if workers > 1 else ''}"] = dask
            dask.wait_for_workers()  # no round measured in process while they start
        yield backends
    finally:
        # Newest first: each embedded cluster restores the log level it found when it
        # closes, and the older one's close would otherwise be logged.
        for backend in reversed(backends.values()):
            backend.close()
        limits.restore_original_limits()


def _repeat(
    trainer: Any, backends: dict[str, Backend], start: Any, rounds: int
) -> tuple[dict[str, list[RoundCost]], bool]:
    """One repeat: ``rounds + 1`` rounds from ``start``, round by round across the backends;
    their costs, and whether all backends ended with bit-identical parameters."""
    states = dict.fromkeys(backends, start)
    costs: dict[str, list[RoundCost]] = {name: [] for name in backends}
    for _ in range(rounds + 1):
        for name, backend in backends.items():
            cost, states[name] = _rounds(trainer, backend, states[name], 1)
            costs[name] += cost
    reference = states["serial"].params
    return costs, all(np.array_equal(s.params, reference) for s in states.values())


def _report_gradient(
    results: dict[str, list[RoundCost]],
    speedups: list[float],
    ceilings: list[float],
    task_ceilings: list[float],
    identical: bool,
    report: Callable[[str], None],
) -> dict[str, float]:
    """The table of median rounds per backend, then the speedups and ceilings."""
    names = list(results)
    medians = {name: median_cost(results[name]) for name in names}
    report(f"{'per round (median)':30}" + "".join(f"{name:>14}" for name in names))
    rows = [
        ("round (ms)", lambda c: f"{c.wall_s * 1e3:.1f}"),
        ("  longest task (ms)", lambda c: f"{c.longest_task_s * 1e3:.1f}"),
        ("  backend overhead (ms)", lambda c: f"{c.overhead_s * 1e3:.1f}"),
        ("  reduce + step (ms)", lambda c: f"{c.step_s * 1e3:.1f}"),
        ("bytes sent", lambda c: f"{c.bytes_sent:,.0f}"),
        ("bytes received", lambda c: f"{c.bytes_received:,.0f}"),
    ]
    for label, show in rows:
        report(f"{label:30}" + "".join(f"{show(medians[name]):>14}" for name in names))
    speedup = statistics.median(speedups)
    runs = ", ".join(f"{x:.2f}" for x in speedups)
    report(f"speedup 2 workers vs 1         {speedup:.2f}  (repeats: {runs})")
    report(
        f"hardware ceiling               {statistics.median(ceilings):.2f}  (the same CPU-bound "
        "task on both workers at once vs alone; no scheduler beats it)"
    )
    report(
        f"this task's ceiling            {statistics.median(task_ceilings):.2f}  (each half of a "
        "round's shards on its own worker, both at once, vs one half alone: memory-bound "
        "work scales less than the CPU-bound ceiling)"
    )
    versus_serial = medians["serial"].wall_s / medians["2 workers"].wall_s
    report(f"speedup 2 workers vs serial    {versus_serial:.2f}  (serial: one thread, in process)")
    report(f"parameters identical on all three: {'yes' if identical else 'NO'}")
    return {
        "speedup": speedup,
        "versus_serial": versus_serial,
        "ceiling": statistics.median(ceilings),
        "task_ceiling": statistics.median(task_ceilings),
        "identical": float(identical),
    }
