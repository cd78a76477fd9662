"""``evo plot``: fitness curves of runs, or of a sweep's settings, as PNG, PDF or SVG (headless)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evo.analysis.labels import run_labels
from evo.analysis.style import (
    BAND_ALPHA,
    DPI,
    check_output,
    integer_ticks,
    paper_style,
    run_style,
    save,
)
from evo.errors import RunFolderError
from evo.runlog import CONFIG, RunRecord

X_AXES = {
    "generation": ("generation", "generation"),
    "time": ("time_s", "wall time (s)"),
    "evals": ("evaluations", "evaluations (members evaluated)"),
}
FIGURE_SIZE = (8.5, 4.6)  # inches: the axes, with the legend beside them
_STATISTICS = (
    ("fitness_max", "-", "best"),
    ("fitness_mean", "--", "mean"),
    ("fitness_median", ":", "median"),
)


def _number(value: Any) -> float:
    """A metrics value as a float: null is NaN, "inf"/"-inf" are infinities."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return float(value)
    return float(value)


def _series(metrics: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [_number(row.get(key)) for row in metrics]


def _x_series(metrics: Sequence[dict[str, Any]], x: str) -> list[float]:
    """The horizontal coordinates of a run's generations (generations counted from 1)."""
    return _series(metrics, X_AXES[x][0])


def _check_axis(x: str) -> None:
    if x not in X_AXES:
        raise RunFolderError(f"--x: expected one of {', '.join(X_AXES)}, found {x!r}")


def _finish(figure: Any, axes: Any, title: str, x: str, handles: list[Any]) -> None:
    """Title, axis labels, whole-number ticks where x counts, the legend outside the curves."""
    axes.set_title(title, loc="left")
    axes.set_xlabel(X_AXES[x][1])
    axes.set_ylabel("fitness (mean episode return)")
    if x != "time":
        integer_ticks(axes.xaxis)
    axes.margins(x=0.01)
    figure.legend(handles=handles, loc="outside right upper", frameon=False)


def plot_runs(
    run_dirs: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    x: str = "generation",
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Best, mean and median fitness per generation, with the min-max band, for each run
    (overlaid: a colour and a marker each; the statistic by line style), against ``x``:
    generation, time or evals. ``out`` ends in .png, .pdf or .svg."""
    _check_axis(x)
    check_output(out, dpi)
    runs = []
    for run_dir in run_dirs:
        runs.append(RunRecord.read(run_dir))
        if not runs[-1].metrics:
            raise RunFolderError(f"{runs[-1].path}: no generations recorded yet")
    labels = run_labels([run.config for run in runs], [run.path.name for run in runs])
    with paper_style() as plt:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        figure, axes = plt.subplots(figsize=FIGURE_SIZE, layout="constrained")
        handles = []
        for index, (run, label) in enumerate(zip(runs, labels, strict=True)):
            style = run_style(index)
            colour, metrics = style["color"], run.metrics
            xs = _x_series(metrics, x)
            every = max(1, len(xs) // 12)
            low, high = _series(metrics, "fitness_min"), _series(metrics, "fitness_max")
            axes.fill_between(xs, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0)
            axes.plot(xs, low, color=colour, linewidth=0.6, alpha=0.7)  # the band's floor
            for key, linestyle, _ in _STATISTICS:
                best = key == "fitness_max"
                marked = {"marker": style["marker"], "markevery": every} if best else {}
                axes.plot(xs, _series(metrics, key), color=colour, linestyle=linestyle, **marked)
            handles.append(Line2D([], [], color=colour, marker=style["marker"], label=label))
        handles += [
            Line2D([], [], color="0.25", linestyle=linestyle, label=name)
            for _, linestyle, name in _STATISTICS
        ]
        handles.append(Patch(color="0.25", alpha=BAND_ALPHA * 2, label="min to max"))
        names = sorted({str(run.config.get("name", run.path.name)) for run in runs})
        default = f"{', '.join(names)}: best, mean and median fitness (band: min to max)"
        _finish(figure, axes, title or default, x, handles)
        return save(figure, out, dpi)


def plot_sweep(
    sweep_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    x: str = "generation",
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Per setting of a sweep, the median over its seeds of the best fitness so far, with
    the band from the first to the third quartile, against ``x``: generation, time or evals.
    A run that stopped early (target reached) keeps its last value."""
    from evo.sweep import SweepFolder

    _check_axis(x)
    check_output(out, dpi)
    folder = SweepFolder.open(sweep_dir)
    settings = []
    for setting, entries in folder.settings():
        runs = []
        for entry in entries:
            path = folder.run_path(entry)
            # A run not started yet (or stopped before its config was written) has no curve.
            metrics = RunRecord.read(path).metrics if (path / CONFIG).is_file() else ()
            if metrics:
                runs.append((_x_series(metrics, x), _series(metrics, "best_so_far")))
        if runs:
            settings.append((setting or folder.record.get("name", "base"), runs))
    if not settings:
        raise RunFolderError(f"{folder.path}: no generations recorded yet")
    with paper_style() as plt:
        figure, axes = plt.subplots(figsize=FIGURE_SIZE, layout="constrained")
        handles = []
        for index, (setting, runs) in enumerate(settings):
            style = run_style(index)
            xs, ys = _aligned(runs)
            with warnings.catch_warnings():  # x values no run has reached yet: NaN, not a warning
                warnings.simplefilter("ignore", RuntimeWarning)
                low, median, high = np.nanpercentile(ys, [25, 50, 75], axis=0)
            axes.fill_between(
                xs, low, high, color=style["color"], alpha=BAND_ALPHA, linewidth=0, step="post"
            )
            seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
            (line,) = axes.step(
                xs, median, where="post", markevery=max(1, len(xs) // 12), **style,
                label=f"{setting} ({seeds})",
            )  # fmt: skip
            handles.append(line)
        name = folder.record.get("name", folder.path.name)
        default = f"{name}: best fitness so far, median over seeds (band: 25th to 75th percentile)"
        _finish(figure, axes, title or default, x, handles)
        return save(figure, out, dpi)


def _aligned(runs: list[tuple[list[float], list[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Runs' step curves on the union of their x values: ``(xs, ys)`` with one row of
    ``ys`` per run, NaN before its first point and its last value after its end."""
    xs = np.unique(np.concatenate([np.asarray(run_x, dtype=float) for run_x, _ in runs]))
    xs = xs[np.isfinite(xs)]
    ys = np.full((len(runs), len(xs)), np.nan)
    for row, (run_x, run_y) in enumerate(runs):
        index = np.searchsorted(np.asarray(run_x, dtype=float), xs, side="right") - 1
        reached = index >= 0
        ys[row, reached] = np.asarray(run_y, dtype=float)[index[reached]]
    return xs, ys
