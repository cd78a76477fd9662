"""The tables of ``evo compare``: results and time to a threshold, the cost of a round, and
scaling over backends with a determinism check."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from evo.analysis.compare.runs import (
    WARMUP_ROUNDS,
    Group,
    Run,
    _last,
    _median,
    _median_inf,
)
from evo.analysis.tables import left_then_right, plain, table

_TIMINGS = ("wall", "compute", "overhead")  # of Run.round_costs, in table order
# The columns a deterministic rerun on another backend reproduces exactly.
_DETERMINISTIC = ["fitness_max", "fitness_mean", "fitness_min", "fitness_std", "best_so_far"]


def format_results(groups: Sequence[Group], y: str, threshold: float | None) -> str:
    """Per group: runs, final score, last ``y``, and time, samples and bytes to threshold."""
    header = [
        "group",
        "runs (seeds)",
        "final score",
        f"last {y}",
        "threshold",
        "reached",
        "time to thr (s)",
        "samples to thr",
        "bytes to thr",
    ]
    rows, unfinished = [], False
    for group in groups:
        finished = [run for run in group.runs if run.summary is not None]
        unfinished |= len(finished) < len(group.runs)
        seeds = ", ".join(
            f"{plain(run.seed)}{'' if run.summary is not None else '*'}" for run in group.runs
        )
        thresholds = {threshold if threshold is not None else run.threshold for run in group.runs}
        shown = "-" if thresholds == {None} else "/".join(_number_text(t) for t in thresholds)
        times, samples, sent = [], [], []
        for run in group.runs:
            bar = threshold if threshold is not None else run.threshold
            index = run.reached(y, bar)
            for values, series in ((times, run.time), (samples, run.samples), (sent, run.bytes)):
                values.append(math.inf if index is None else float(series[index]))
        reached = f"{sum(math.isfinite(t) for t in times)}/{len(group.runs)}"
        last = [_last(run.column(y)) for run in group.runs]
        if not any(math.isfinite(value) for value in last):
            reached = "not logged"
        rows.append(
            [
                group.label,
                f"{len(group.runs)} ({seeds})",
                _spread([run.final_score for run in finished]),
                _spread(last),
                shown,
                reached,
                _number_text(_median_inf(times)),
                _count_text(_median_inf(samples)),
                _count_text(_median_inf(sent)),
            ]
        )
    notes = (
        "final score: held-out test accuracy or final evaluation mean, median [IQR] over runs. "
        f"Threshold: the first line with {y} >= threshold; medians over runs (- when the median "
        "run never reached it); bytes: sent + received by the orchestrator."
    )
    if unfinished:
        notes += " *: unfinished (no summary.json): no final score; its logged lines are used."
    return "\n".join([_table(header, rows), *textwrap.wrap(notes, 100)])


def format_round_costs(groups: Sequence[Group]) -> str:
    """Per group: medians per round of wall time, compute, overhead and bytes."""
    header = ["group", "wall s/round", "compute s/round", "overhead s/round", "bytes/round"]
    rows = []
    for group in groups:
        costs = [run.round_costs() for run in group.runs]
        rows.append(
            [
                group.label,
                *(_number_text(_median([c[k] for c in costs])) for k in _TIMINGS),
                _count_text(_median([c["bytes"] for c in costs])),
            ]
        )
    note = (
        f"Per round (generation or gradient step): the median over rounds (the first "
        f"{WARMUP_ROUNDS} left out as warm-up when a run has more than {2 * WARMUP_ROUNDS}), "
        "then over runs. compute: CPU-seconds in tasks / min(tasks, workers); "
        "overhead: wall - compute (orchestrator, scheduling, transfers, idle workers)."
    )
    return "\n".join([_table(header, rows), *textwrap.wrap(note, 100)])


def format_scaling(runs: Sequence[Run]) -> str:
    """For each config run on several backends: seconds per round, speedups, determinism."""
    configs: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        configs.setdefault((run.name, run.method), []).append(run)
    sections = []
    for (name, method), members in configs.items():
        backends: dict[str, list[Run]] = {}
        for run in sorted(members, key=lambda r: r.workers):
            backends.setdefault(run.backend, []).append(run)
        if len(backends) < 2:
            continue
        # Seeds run on every backend do the same work on each: time only those, if any.
        common = set.intersection(*({run.seed for run in g} for g in backends.values()))
        if common:
            backends = {k: [r for r in g if r.seed in common] for k, g in backends.items()}
        seeds = ", ".join(map(plain, sorted(common, key=str)))
        seeds = f"seed{'s' if len(common) > 1 else ''} {seeds}" if common else "no seed common"
        per_round = {
            label: {key: _median([run.round_costs()[key] for run in group]) for key in _TIMINGS}
            for label, group in backends.items()
        }
        serial = per_round.get("serial", {}).get("wall", math.nan)
        one = next(
            (per_round[label]["wall"] for label, g in backends.items() if g[0].workers == 1),
            math.nan,
        )
        header = ["backend", "runs", "s/round", "compute", "overhead", "vs serial", "vs 1 worker"]
        rows = [
            [
                label,
                str(len(backends[label])),
                *(_number_text(costs[key]) for key in _TIMINGS),
                _ratio_text(serial, costs["wall"]),
                _ratio_text(one, costs["wall"]),
            ]
            for label, costs in per_round.items()
        ]
        sections.append(
            "\n".join(
                [
                    f"Scaling: {name} {method}, {seeds} (speedup: baseline s/round / this)",
                    _table(header, rows),
                    *_determinism(backends),
                ]
            )
        )
    return "\n\n".join(sections)


def _determinism(backends: dict[str, list[Run]]) -> list[str]:
    """Whether runs of one seed on different backends gave the same numbers."""
    by_seed: dict[Any, dict[str, Run]] = {}
    for label, group in backends.items():
        for run in group:
            by_seed.setdefault(run.seed, {}).setdefault(label, run)
    lines = []
    for seed, where in by_seed.items():
        if len(where) < 2:
            continue
        finals = {label: run.final_score for label, run in where.items()}
        if any(run.summary is None for run in where.values()):
            verdict = "final scores not all known (unfinished runs)"
        elif len({repr(value) for value in finals.values()}) == 1:
            verdict = f"final scores identical ({_number_text(next(iter(finals.values())))})"
        else:
            listed = ", ".join(f"{label} {_number_text(v)}" for label, v in finals.items())
            verdict = f"final scores NOT identical ({listed})"
        # Over the lines every run logged (an unfinished run stops early).
        common = min(len(run.metrics) for run in where.values())
        curves = {
            repr([run.column(key)[:common].tolist() for key in _DETERMINISTIC])
            for run in where.values()
        }
        line = (
            f"determinism, seed {plain(seed)} on {', '.join(where)}: {verdict}; "
            f"{', '.join(_DETERMINISTIC)} over {common} lines "
            f"{'identical' if len(curves) == 1 else 'NOT identical'}"
        )
        lines += textwrap.wrap(line, 100, subsequent_indent="  ")
    return lines or ["determinism: no seed was run on more than one backend"]


def _spread(values: list[float]) -> str:
    """Median [first quartile, third quartile], or the value alone, or "-"."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "-"
    if len(finite) == 1:
        return _number_text(finite[0])
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return f"{_number_text(median)} [{_number_text(q1)}, {_number_text(q3)}]"


def _number_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _count_text(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "-"


def _ratio_text(baseline: float, value: float) -> str:
    if not (math.isfinite(baseline) and math.isfinite(value)) or value <= 0:
        return "-"
    return f"{baseline / value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Fitted columns: the first left-aligned, the others right-aligned."""
    return "\n".join(table(left_then_right(header), rows, strip=True))
