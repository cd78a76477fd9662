"""``evo plot``: fitness curves of runs, or of a sweep's settings, as a PNG (headless)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evo.errors import RunFolderError
from evo.runlog import CONFIG, RunRecord

X_AXES = {
    "generation": ("generation", "generation"),
    "time": ("time_s", "wall time (s)"),
    "evals": ("evaluations", "evaluations (members evaluated)"),
}
FIGURE_SIZE = (9, 5.5)  # inches
DPI = 110


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
    key = X_AXES[x][0]
    xs = _series(metrics, key)
    return [g + 1 for g in xs] if key == "generation" else xs


def _check_axis(x: str) -> None:
    if x not in X_AXES:
        raise RunFolderError(f"--x: expected one of {', '.join(X_AXES)}, found {x!r}")


def _figure() -> tuple[Any, Any, list[str]]:
    """A blank figure, its axes and the colour cycle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=FIGURE_SIZE, dpi=DPI)
    return figure, axes, plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _save(
    figure: Any, axes: Any, out: str | os.PathLike[str], title: str, x: str, ncol: int
) -> Path:
    """Label the axes, write the PNG and release the figure."""
    import matplotlib.pyplot as plt

    axes.set_title(title)
    axes.set_xlabel(X_AXES[x][1])
    axes.set_ylabel("fitness (mean episode return)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right", ncol=ncol)
    figure.tight_layout()
    out = Path(out)
    try:
        if out.parent and not out.parent.exists():
            raise RunFolderError(f"{out}: the folder {out.parent} does not exist")
        figure.savefig(out, format="png")
    finally:
        plt.close(figure)
    return out


def plot_runs(
    run_dirs: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    x: str = "generation",
    title: str | None = None,
) -> Path:
    """Best, mean and median fitness per generation, with the min-max band, for each run
    (overlaid, one colour each), against ``x``: generation, time or evals."""
    _check_axis(x)
    runs = []
    for run_dir in run_dirs:
        runs.append(RunRecord.read(run_dir))
        if not runs[-1].metrics:
            raise RunFolderError(f"{runs[-1].path}: no generations recorded yet")
    figure, axes, colours = _figure()
    for index, run in enumerate(runs):
        colour = colours[index % len(colours)]
        metrics = run.metrics
        xs = _x_series(metrics, x)
        name = run.path.name
        low, high = _series(metrics, "fitness_min"), _series(metrics, "fitness_max")
        axes.fill_between(xs, low, high, color=colour, alpha=0.15, linewidth=0)
        axes.plot(xs, high, color=colour, linewidth=1.8, label=f"{name}: best")
        axes.plot(xs, _series(metrics, "fitness_mean"), color=colour, linestyle="--", label="mean")
        axes.plot(
            xs, _series(metrics, "fitness_median"), color=colour, linestyle=":", label="median"
        )
    names = sorted({_config_name(run.path) for run in runs})
    default = f"{', '.join(names)}: best, mean and median fitness (band: min to max)"
    return _save(figure, axes, out, title or default, x, ncol=max(1, len(runs) // 4 + 1))


def plot_sweep(
    sweep_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    x: str = "generation",
    title: str | None = None,
) -> Path:
    """Per setting of a sweep, the median over its seeds of the best fitness so far, with
    the band from the first to the third quartile, against ``x``: generation, time or evals.
    A run that stopped early (target reached) keeps its last value."""
    from evo.sweep import SweepFolder

    _check_axis(x)
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
    figure, axes, colours = _figure()
    for index, (setting, runs) in enumerate(settings):
        colour = colours[index % len(colours)]
        xs, ys = _aligned(runs)
        with warnings.catch_warnings():  # x values no run has reached yet: NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            low, median, high = np.nanpercentile(ys, [25, 50, 75], axis=0)
        axes.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0, step="post")
        seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
        axes.step(
            xs, median, where="post", color=colour, linewidth=1.8, label=f"{setting} ({seeds})"
        )
    name = folder.record.get("name", folder.path.name)
    default = f"{name}: best fitness so far, median over seeds (band: 25th to 75th percentile)"
    return _save(figure, axes, out, title or default, x, ncol=max(1, len(settings) // 8 + 1))


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


def _config_name(path: Path) -> str:
    """The run's config name (its folder name without the timestamp)."""
    name = path.name
    head, _, stamp = name.rpartition("-")
    head2, _, day = head.rpartition("-")
    if stamp.isdigit() and day.isdigit() and head2:
        return head2
    return name
