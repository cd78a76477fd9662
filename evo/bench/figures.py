"""The figures of ``evo bench CONFIG``, computed once: the ``--json`` document and the table
printed by default both show :func:`config_figures`."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evo.bench.costs import GenerationCost, median_cost
from evo.bench.limits import describe

if TYPE_CHECKING:
    from evo.bench.evolution import ConfigBenchResult


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _rates(costs: list[GenerationCost]) -> dict[str, Any]:
    """Per-backend figures: medians over the repeats (each repeat's median generation)."""
    evaluations = [c.members / c.wall_s for c in costs]
    env_steps = [c.env_steps / c.wall_s for c in costs]
    m = median_cost(costs)
    return {
        "evaluations_per_s": statistics.median(evaluations),
        "env_steps_per_s": statistics.median(env_steps),
        "evaluations_per_s_repeats": evaluations,
        "env_steps_per_s_repeats": env_steps,
        "generation_ms": m.wall_s * 1e3,
        "evaluate_ms": m.evaluate_s * 1e3,
        "longest_task_ms": m.longest_task_s * 1e3,
        "ask_tell_ms": m.strategy_s * 1e3,
        "overhead_ms": m.overhead_s * 1e3,
        "tasks_per_generation": m.tasks,
        "bytes_sent_per_generation": m.bytes_sent,
        "bytes_received_per_generation": m.bytes_received,
        "transfer_bytes_per_generation": m.transfer_bytes,
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def config_figures(result: ConfigBenchResult) -> dict[str, Any]:
    """Every figure of the bench, as one JSON-ready document."""
    serial, dask = _rates(result.serial), _rates(result.dask)
    ratio = {
        key: _ratio(dask[key], serial[key]) for key in ("evaluations_per_s", "env_steps_per_s")
    }
    figures: dict[str, Any] = {
        "config": result.name,
        "algorithm": result.algorithm,
        "population": result.population,
        "num_params": result.num_params,
        "workers": result.workers,
        "threads": result.threads,
        "cores": cores(),
        "repeats": len(result.serial),
        "generations": result.generations,
        "warmup": result.warmup,
        "serial": serial,
        "dask": dask,
        "ratio": ratio,  # dask / serial of the two medians above
        "speedup": statistics.median(result.speedups),  # median of paired per-generation ratios
        "speedup_repeats": result.speedups,
        "ceiling": result.ceiling,
        "ceiling_repeats": result.ceilings,
        "ratio_of_ceiling": None
        if ratio["evaluations_per_s"] is None
        else _ratio(ratio["evaluations_per_s"], result.ceiling),
        "identical_fitness": result.identical,
        "env_limit": None,  # a function or data problem: n/a
    }
    if result.limit_kind is not None:
        limit = statistics.median(result.limits)
        per_worker = dask["env_steps_per_s"] / max(result.workers, 1)
        figures["env_limit"] = {
            "env": result.env_id,
            "kind": result.limit_kind,
            "lanes": result.lanes,
            "lane_steps_per_cpu_s": limit,
            "lane_steps_per_cpu_s_repeats": result.limits,
            "per_worker_env_steps_per_s": per_worker,
            "efficiency": per_worker / limit,
        }
    return figures


def report_config(result: ConfigBenchResult, report: Callable[[str], None]) -> None:
    """The default, human table of :func:`config_figures`."""
    figures = config_figures(result)
    s, d, ratio = figures["serial"], figures["dask"], figures["ratio"]
    rows = [
        (label, rate_text(s[key]), rate_text(d[key]), times_text(ratio[key]))
        for label, key in (
            ("evaluations/s", "evaluations_per_s"),
            ("env steps/s", "env_steps_per_s"),
        )
    ]
    rows.append(("generation (ms)", f"{s['generation_ms']:.1f}", f"{d['generation_ms']:.1f}", ""))
    for label, key in (
        ("  evaluate (ms)", "evaluate_ms"),
        ("  longest task (ms)", "longest_task_ms"),
        ("  ask + tell (ms)", "ask_tell_ms"),
        ("orchestration overhead (ms/gen)", "overhead_ms"),
    ):
        rows.append((label, f"{s[key]:.1f}", f"{d[key]:.1f}", ""))
    for label, key in (
        ("bytes sent / gen", "bytes_sent_per_generation"),
        ("bytes received / gen", "bytes_received_per_generation"),
        ("bytes workers served / gen", "transfer_bytes_per_generation"),
    ):
        rows.append((label, "-", f"{d[key]:,.0f}", ""))
    report(f"{'':34}{'serial':>14}{'dask':>14}{'dask/serial':>14}")
    for label, a, b, c in rows:
        report(f"{label:34}{a:>14}{b:>14}{c:>14}".rstrip())
    _report_limits(result, figures, report)


def _report_limits(
    result: ConfigBenchResult, figures: dict[str, Any], report: Callable[[str], None]
) -> None:
    runs = ", ".join(f"{x:.2f}" for x in result.speedups)
    threads = max(1, result.threads)
    report(f"speedup (dask vs serial)          {figures['speedup']:.2f}  (repeats: {runs})")
    report(f"parallel efficiency               {figures['speedup'] / threads:.0%}")
    report(
        f"hardware ceiling                  {result.ceiling:.2f}  (the same CPU-bound task on "
        f"all {result.threads} threads at once vs alone; no scheduler beats it)"
    )
    of_ceiling = figures["ratio_of_ceiling"]
    report(
        "evaluations/s ratio of ceiling    "
        + ("-" if of_ceiling is None else f"{of_ceiling:.0%}")
        + f"  ({times_text(figures['ratio']['evaluations_per_s'])} of {result.ceiling:.2f}x)"
    )
    limit = figures["env_limit"]
    if limit is None:
        report("env limit (one core)              n/a  (no env: a function or data problem)")
    else:
        report(
            f"env limit (one core)              {limit['lane_steps_per_cpu_s']:,.0f} "
            f"lane-steps/CPU-s  ({describe(limit['kind'], limit['env'], limit['lanes'])})"
        )
        report(
            f"per-worker env steps/s            {limit['per_worker_env_steps_per_s']:,.0f}  "
            f"= {limit['efficiency']:.1%} of the env limit"
        )
    dense = result.population * result.num_params * 4
    d = figures["dask"]
    moved = (
        d["bytes_sent_per_generation"]
        + d["bytes_received_per_generation"]
        + d["transfer_bytes_per_generation"]
    )
    report(
        f"traffic vs shipping every member's vector: {moved:,.0f} of {dense:,.0f} bytes "
        f"({moved / dense:.3%})"
    )
    report(f"fitness identical on both backends: {'yes' if result.identical else 'NO'}")


def rate_text(value: float) -> str:
    """A rate with its thousands separated, and three significant digits below 100."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def times_text(value: float | None) -> str:
    """A ratio as ``1.23x`` (``-`` when it has no value)."""
    return "-" if value is None else f"{value:.2f}x"
