"""``evo plot``: fitness curves of one or more runs as a PNG (matplotlib, headless)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from evo.errors import RunFolderError
from evo.runlog import RunFolder

X_AXES = {
    "generation": ("generation", "generation"),
    "time": ("time_s", "wall time (s)"),
    "evals": ("evaluations", "evaluations (members evaluated)"),
}


def _number(value: Any) -> float:
    """A metrics value as a float: null is NaN, "inf"/"-inf" are infinities."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return float(value)
    return float(value)


def _series(metrics: list[dict[str, Any]], key: str) -> list[float]:
    return [_number(row.get(key)) for row in metrics]


def plot_runs(
    run_dirs: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    x: str = "generation",
    title: str | None = None,
) -> Path:
    """Best, mean and median fitness per generation, with the min-max band, for each run
    (overlaid, one colour each), against ``x``: generation, time or evals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if x not in X_AXES:
        raise RunFolderError(f"--x: expected one of {', '.join(X_AXES)}, found {x!r}")
    runs = []
    for run_dir in run_dirs:
        folder = RunFolder.open(run_dir)
        metrics = folder.read_metrics()
        if not metrics:
            raise RunFolderError(f"{folder.path}: no generations recorded yet")
        runs.append((folder, metrics))
    key, label = X_AXES[x]
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (folder, metrics) in enumerate(runs):
        colour = colours[index % len(colours)]
        xs = _series(metrics, key)
        if key == "generation":
            xs = [g + 1 for g in xs]
        name = folder.path.name
        low, high = _series(metrics, "fitness_min"), _series(metrics, "fitness_max")
        axes.fill_between(xs, low, high, color=colour, alpha=0.15, linewidth=0)
        axes.plot(xs, high, color=colour, linewidth=1.8, label=f"{name}: best")
        axes.plot(xs, _series(metrics, "fitness_mean"), color=colour, linestyle="--", label="mean")
        axes.plot(
            xs, _series(metrics, "fitness_median"), color=colour, linestyle=":", label="median"
        )
    names = sorted({_config_name(folder) for folder, _ in runs})
    default = f"{', '.join(names)}: best, mean and median fitness (band: min to max)"
    axes.set_title(title or default)
    axes.set_xlabel(label)
    axes.set_ylabel("fitness (mean episode return)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right", ncol=max(1, len(runs) // 4 + 1))
    figure.tight_layout()
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise RunFolderError(f"{out}: the folder {out.parent} does not exist")
    figure.savefig(out, format="png")
    plt.close(figure)
    return out


def _config_name(folder: RunFolder) -> str:
    """The run's config name (its folder name without the timestamp)."""
    name = folder.path.name
    head, _, stamp = name.rpartition("-")
    head2, _, day = head.rpartition("-")
    if stamp.isdigit() and day.isdigit() and head2:
        return head2
    return name
