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
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evo.analysis.compare.figure import plot_comparison
from evo.analysis.compare.report import format_results, format_round_costs, format_scaling
from evo.analysis.compare.runs import Group, Run, group_runs, load_run
from evo.analysis.style import DPI, check_output
from evo.errors import ConfigError, RunFolderError

__all__ = [
    "Group",
    "Run",
    "compare",
    "default_y",
    "format_results",
    "format_round_costs",
    "format_scaling",
    "group_runs",
    "load_run",
    "plot_comparison",
]


def compare(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    y: str | None = None,
    threshold: float | None = None,
    title: str | None = None,
    dpi: int = DPI,
) -> str:
    """The comparison report as text; with ``out``, also the figure there (.png, .pdf or
    .svg)."""
    if not run_dirs:
        raise RunFolderError("no run folders given")
    if out is not None:
        check_output(out, dpi)
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
        plot_comparison(groups, y, threshold, Path(out), title, dpi)
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
