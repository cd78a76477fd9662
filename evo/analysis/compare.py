"""``evo compare``: evolution and gradient runs side by side, on equal terms.

Curves of a score against wall time, samples and bytes communicated (one PNG,
three panels); a table of final scores, time (samples, bytes) to a threshold
and the cost of a round split into compute and overhead; and, when one config
was run on several backends, a scaling table with speedups and a determinism
check. Runs of one config and method that differ only in seed are one group:
its curve is the median over seeds with the inter-quartile band.
"""

from __future__ import annotations

import difflib
import io
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo.analysis.plot import _number
from evo.analysis.tables import left_then_right, plain, table
from evo.errors import ConfigError, RunFolderError
from evo.runlog import RunRecord, atomic_write_bytes

WARMUP_ROUNDS = 2  # left out of the per-round medians when a run has enough rounds
GRID_POINTS = 200  # common x grid of a group's median curve
LOG_SPAN = 30  # a panel whose groups end further apart than this factor gets a log x axis

_Y_LABELS = {
    "test_accuracy": "held-out test accuracy",
    "fitness_mean": "mean score of the generation or round",
    "fitness_max": "best score of the generation or round",
    "fitness_median": "median score of the generation or round",
    "solution_fitness": "score of the current solution",
    "best_so_far": "best score so far",
}
_TIMINGS = ("wall", "compute", "overhead")  # of Run.round_costs, in table order
# The columns a deterministic rerun on another backend reproduces exactly.
_DETERMINISTIC = ["fitness_max", "fitness_mean", "fitness_min", "fitness_std", "best_so_far"]


@dataclass(frozen=True)
class Run:
    """One run folder as read for comparison: its config, metrics and summary (if finished)."""

    path: Path
    name: str
    seed: int | None
    method: str
    backend: str
    workers: int  # 0: serial (in-process)
    threshold: float | None
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] | None

    def column(self, key: str) -> np.ndarray:
        """A metrics key per line as floats (missing, null or not a number: NaN)."""
        return np.array([_float(row.get(key)) for row in self.metrics])

    @property
    def time(self) -> np.ndarray:
        """Wall seconds since the start of the loop, per line."""
        return self.column("time_s")

    @property
    def samples(self) -> np.ndarray:
        """Cumulative samples: ``samples`` if logged, else env steps, else evaluations."""
        for key in ("samples", "env_steps", "evaluations"):
            values = self.column(key)
            if np.isfinite(values).all() and values[-1] > 0:
                return values
        return self.column("evaluations")

    @property
    def bytes(self) -> np.ndarray:
        """Cumulative bytes sent and received by the orchestrator."""
        per_line = np.nan_to_num(self.column("bytes_sent")) + np.nan_to_num(
            self.column("bytes_received")
        )
        return np.cumsum(per_line)

    @property
    def final_score(self) -> float:
        """Held-out score from the summary (test accuracy, else final evaluation mean)."""
        if self.summary is None:
            return math.nan
        score = self.summary.get("test_accuracy")
        return _float(self.summary.get("final_eval_mean") if score is None else score)

    def round_costs(self) -> dict[str, float]:
        """Medians per round (after the warm-up): wall, compute, overhead and bytes."""
        wall = np.diff(self.time, prepend=0.0)
        parallel = np.maximum(1.0, np.fmin(self.column("tasks"), self.column("workers")))
        compute = self.column("compute_s") / np.nan_to_num(parallel, nan=1.0)
        sent = np.nan_to_num(self.column("bytes_sent")) + np.nan_to_num(
            self.column("bytes_received")
        )
        skip = WARMUP_ROUNDS if len(wall) > 2 * WARMUP_ROUNDS else 0
        return {
            "wall": _median(wall[skip:]),
            "compute": _median(compute[skip:]),
            "overhead": _median((wall - compute)[skip:]),
            "bytes": _median(sent[skip:]),
        }

    def reached(self, y: str, threshold: float | None) -> int | None:
        """Index of the first line whose ``y`` is at least ``threshold`` (None: never)."""
        if threshold is None:
            return None
        hits = np.flatnonzero(self.column(y) >= threshold)
        return int(hits[0]) if hits.size else None


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read a run folder (config, metrics, summary) without running anything in it."""
    record = RunRecord.read(path)
    config, metrics, summary = record.config, list(record.metrics), record.summary
    if not metrics:
        raise RunFolderError(f"{record.path}: no generations or rounds recorded yet")
    info = summary or {}
    backend = _section(config, "backend")
    if backend.get("kind") == "serial":
        label, workers = "serial", 0
    else:
        workers = backend.get("workers")
        if not isinstance(workers, int):  # one per core, or an external cluster: as logged
            logged = _median([_float(row.get("workers")) for row in metrics])
            workers = int(logged) if math.isfinite(logged) else 0
        label = f"dask {workers} worker{'s' if workers != 1 else ''}"
    return Run(
        path=record.path,
        name=str(config.get("name") or info.get("name") or record.path.name),
        seed=info.get("seed") if config.get("seed") is None else config["seed"],
        method=_method(config, info, metrics),
        backend=label,
        workers=workers,
        threshold=_threshold(config, info),
        metrics=metrics,
        summary=summary,
    )


def _method(config: dict[str, Any], summary: dict[str, Any], metrics: list[dict]) -> str:
    """The algorithm (``adam``, ``reinforce_adam``, ``openai_es`` ...), prefixed by
    "gradient" for gradient-trained runs."""
    algorithm = summary.get("algorithm")
    if "gradient" not in (summary.get("mode"), config.get("mode"), metrics[-1].get("mode")):
        return str(algorithm or _section(config, "algorithm").get("name") or "evolution")
    if not algorithm:  # unfinished: named as the trainer names itself in its summary
        optimizer = _section(config, "gradient").get("optimizer")
        on_env = config.get("data") is None
        algorithm = f"reinforce_{optimizer}" if optimizer and on_env else optimizer
    return f"gradient {algorithm}" if algorithm else "gradient"


def _threshold(config: dict[str, Any], summary: dict[str, Any]) -> float | None:
    """The config's stop target, else its final-evaluation bar, else the summary's."""
    for value in (
        _section(config, "stop").get("target_fitness"),
        _section(config, "final_eval").get("threshold"),
        summary.get("solve_threshold"),
    ):
        if value is not None and math.isfinite(_float(value)):
            return _float(value)
    return None


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Group:
    """Runs of one config and method on one backend (seeds apart)."""

    label: str
    runs: list[Run]


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs grouped by (config name, method), split by backend where that varies."""
    keys: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        keys.setdefault((run.name, run.method, run.backend), []).append(run)
    backends: dict[tuple[str, str], int] = {}
    for name, method, _ in keys:
        backends[name, method] = backends.get((name, method), 0) + 1
    groups = []
    for (name, method, backend), members in keys.items():
        seeds = {run.seed for run in members}
        count = (
            f"{len(members)} seed{'s' if len(members) > 1 else ''}"
            if len(seeds) == len(members)
            else f"{len(members)} runs"
        )
        where = f", {backend}" if backends[name, method] > 1 else ""
        groups.append(Group(f"{name} {method}{where} ({count})", members))
    return groups


def compare(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    y: str | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> str:
    """The comparison report as text; with ``out``, also the figure as a PNG there."""
    if not run_dirs:
        raise RunFolderError("no run folders given")
    if out is not None and not Path(out).parent.is_dir():
        raise RunFolderError(f"{out}: the folder {Path(out).parent} does not exist")
    unique = list(dict.fromkeys(Path(p).resolve() for p in run_dirs))
    runs = [load_run(path) for path in unique]
    y = y or default_y(runs)
    _check_y(runs, y)
    groups = group_runs(runs)
    report = [format_results(groups, y, threshold), "", format_round_costs(groups)]
    scaling = format_scaling(runs)
    if scaling:
        report += ["", scaling]
    if out is not None:
        plot_comparison(groups, y, threshold, Path(out), title)
    return "\n".join(report)


def default_y(runs: Sequence[Run]) -> str:
    """``test_accuracy`` when every run logs it (supervised runs), else ``fitness_mean``."""
    if all(np.isfinite(run.column("test_accuracy")).any() for run in runs):
        return "test_accuracy"
    return "fitness_mean"


def _check_y(runs: Sequence[Run], y: str) -> None:
    if any(np.isfinite(run.column(y)).any() for run in runs):
        return
    keys = sorted({key for run in runs for row in run.metrics for key in row})
    close = difflib.get_close_matches(y, keys, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"--y: no run logs a number under {y!r}{hint}")


# ---------------------------------------------------------------- tables


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


# ---------------------------------------------------------------- figure


def plot_comparison(
    groups: Sequence[Group], y: str, threshold: float | None, out: Path, title: str | None
) -> Path:
    """Three panels sharing the y axis: ``y`` against wall time, samples and bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter

    axes_spec: list[tuple[str, Callable[[Run], np.ndarray], str | None]] = [
        ("wall time (s)", lambda run: run.time, None),
        ("samples (env steps, or forward-equivalent passes)", lambda run: run.samples, ""),
        ("bytes communicated (sent + received, cumulative)", lambda run: run.bytes, "B"),
    ]
    figure, panels = plt.subplots(1, 3, figsize=(15, 5.2), dpi=110, sharey=True)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = [palette[index % len(palette)] for index in range(len(groups))]
    logged = [any(np.isfinite(run.column(y)).any() for run in group.runs) for group in groups]
    for (label, x_of, unit), axes in zip(axes_spec, panels, strict=True):
        silent, extents = [], []
        for group, colour, drawn in zip(groups, colours, logged, strict=True):
            if not drawn:
                continue
            curves = [(x_of(run), run.column(y)) for run in group.runs]
            if all(np.nanmax(xs, initial=0.0) <= 0 for xs, _ in curves):
                silent.append(group.label)  # serial runs send nothing: no curve to draw
                continue
            extents.append(_draw_group(axes, curves, colour))
        if extents and max(extents) > LOG_SPAN * min(extents):
            axes.set_xscale("log")  # e.g. gradients against compact ES records: decades apart
            label += ", log scale"
        else:
            axes.set_xlim(left=0)  # from the start: a slow first round shows as a late curve
        if silent:
            axes.text(
                0.98,
                0.03,
                "not drawn, nothing communicated:\n" + "\n".join(silent),
                transform=axes.transAxes,
                fontsize=7,
                color="0.3",
                ha="right",
                va="bottom",
                bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9},
            )
        if unit is not None:
            axes.xaxis.set_major_formatter(EngFormatter(unit=unit))  # 120 k, 1.5 MB
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    handles = [
        Line2D([], [], color=colour, linewidth=1.8, label=group.label)
        if drawn
        else Line2D([], [], color=colour, linestyle=":", label=f"{group.label}: no {y} logged")
        for group, colour, drawn in zip(groups, colours, logged, strict=True)
    ]
    thresholds = {
        threshold if threshold is not None else run.threshold for g in groups for run in g.runs
    }
    if len(thresholds) == 1 and None not in thresholds:
        (bar,) = thresholds
        for axes in panels:
            axes.axhline(bar, color="0.4", linestyle="--", linewidth=1)
        handles.append(Line2D([], [], color="0.4", linestyle="--", label=f"threshold {bar:g}"))
    name = _Y_LABELS.get(y)
    panels[0].set_ylabel(f"{y} ({name})" if name else y)
    several = any(len(group.runs) > 1 for group in groups)
    band = ": median over seeds, band: inter-quartile range" if several else ""
    figure.suptitle(title or f"{y} against wall time, samples and bytes{band}")
    columns = min(3, len(handles))
    figure.legend(handles=handles, fontsize=8, loc="lower center", ncol=columns, frameon=False)
    rows = math.ceil(len(handles) / columns)
    figure.tight_layout(rect=(0, min(0.4, 0.03 + 0.045 * rows), 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def _draw_group(axes: Any, curves: list[tuple[np.ndarray, np.ndarray]], colour: str) -> float:
    """One run as a line; several as the median on a common grid with the IQR band over each
    run faintly (points for a key logged on some lines only). Returns the largest x drawn."""
    sparse = any(not np.isfinite(ys).all() for _, ys in curves)
    curves = [(xs[np.isfinite(ys)], ys[np.isfinite(ys)]) for xs, ys in curves]
    curves = [(xs, ys) for xs, ys in curves if xs.size]
    low = max(xs[0] for xs, _ in curves)
    high = min(xs[-1] for xs, _ in curves)
    extent = float(max(xs[-1] for xs, _ in curves))
    if len(curves) == 1 or high <= low:
        for xs, ys in curves:
            axes.plot(xs, ys, color=colour, linewidth=1.8, marker="o" if sparse else None, ms=3)
        return extent
    for xs, ys in curves:  # each seed faintly: the median covers only the common range
        if sparse:
            axes.plot(xs, ys, color=colour, linestyle="none", marker="o", markersize=2.5, alpha=0.5)
        else:
            axes.plot(xs, ys, color=colour, linewidth=0.7, alpha=0.35)
    grid = np.linspace(low, high, GRID_POINTS)
    values = np.stack([_on_grid(xs, ys, grid, sparse) for xs, ys in curves])
    q1, median, q3 = np.percentile(values, [25, 50, 75], axis=0)
    style = "steps-post" if sparse else "default"
    axes.fill_between(
        grid, q1, q3, color=colour, alpha=0.2, linewidth=0, step="post" if sparse else None
    )
    axes.plot(grid, median, color=colour, linewidth=1.8, drawstyle=style)
    return extent


def _on_grid(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray, step: bool) -> np.ndarray:
    """``ys`` at the ``grid`` points: linear between lines, or the last value carried forward."""
    if step:
        return ys[np.clip(np.searchsorted(xs, grid, side="right") - 1, 0, len(ys) - 1)]
    return np.interp(grid, xs, ys)


# ---------------------------------------------------------------- small helpers


def _float(value: Any) -> float:
    try:
        return _number(value)
    except (TypeError, ValueError):
        return math.nan


def _median(values: Any) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else math.nan


def _median_inf(values: list[float]) -> float:
    """Median where never (inf) counts as the largest value."""
    return float(np.median(values)) if values else math.nan


def _last(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan


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
