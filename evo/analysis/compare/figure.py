"""The figure of ``evo compare``: a score against wall time, samples and bytes, three panels."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evo.analysis.compare.runs import Group, Run
from evo.analysis.style import BAND_ALPHA, DPI, paper_style, run_style, save

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


def plot_comparison(
    groups: Sequence[Group],
    y: str,
    threshold: float | None,
    out: Path,
    title: str | None,
    dpi: int = DPI,
) -> Path:
    """Three panels sharing the y axis: ``y`` against wall time, samples and bytes."""
    with paper_style():
        return _plot(groups, y, threshold, out, title, dpi)


def _plot(
    groups: Sequence[Group], y: str, threshold: float | None, out: Path, title: str | None, dpi: int
) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter, MaxNLocator

    axes_spec: list[tuple[str, Callable[[Run], np.ndarray], str | None]] = [
        ("wall time (s)", lambda run: run.time, None),
        ("samples (env steps, or forward-equivalent passes)", lambda run: run.samples, ""),
        ("bytes communicated (sent + received, cumulative)", lambda run: run.bytes, "B"),
    ]
    figure, panels = plt.subplots(1, 3, figsize=(15, 5.2), sharey=True)
    colours = [run_style(index) for index in range(len(groups))]
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
        if not extents:  # nothing drawn: no scale to read (its 0-1 "B" would be mB)
            axes.set_xticks([])
        elif unit is not None:
            axes.xaxis.set_major_formatter(EngFormatter(unit=unit))  # 120 k, 1.5 MB
            if axes.get_xscale() == "linear":  # labels like "800 kB" need room: 6 at most
                axes.xaxis.set_major_locator(MaxNLocator(nbins=5))
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    handles = [
        Line2D([], [], **colour, label=group.label)
        if drawn
        else Line2D([], [], color=colour["color"], ls=":", label=f"{group.label}: no {y} logged")
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
    # w_pad: room between panels for the last tick label of one and the first of the next
    figure.tight_layout(rect=(0, min(0.4, 0.03 + 0.045 * rows), 1, 1), w_pad=3.0)
    return save(figure, out, dpi)


def _draw_group(
    axes: Any, curves: list[tuple[np.ndarray, np.ndarray]], style: dict[str, Any]
) -> float:
    """One run as a line; several as the median on a common grid with the IQR band over each
    run faintly (points for a key logged on some lines only). Returns the largest x drawn."""
    sparse = any(not np.isfinite(ys).all() for _, ys in curves)
    curves = [(xs[np.isfinite(ys)], ys[np.isfinite(ys)]) for xs, ys in curves]
    curves = [(xs, ys) for xs, ys in curves if xs.size]
    low = max(xs[0] for xs, _ in curves)
    high = min(xs[-1] for xs, _ in curves)
    extent = float(max(xs[-1] for xs, _ in curves))
    colour, marker, linestyle = style["color"], style["marker"], style["linestyle"]
    if len(curves) == 1 or high <= low:
        for xs, ys in curves:
            every = 1 if sparse else max(1, len(xs) // 10)
            axes.plot(xs, ys, color=colour, linestyle=linestyle, marker=marker, markevery=every)
        return extent
    for xs, ys in curves:  # each seed faintly: the median covers only the common range
        if sparse:
            axes.plot(xs, ys, color=colour, linestyle="none", marker="o", markersize=2.5, alpha=0.5)
        else:
            axes.plot(xs, ys, color=colour, linewidth=0.7, alpha=0.35)
    grid = np.linspace(low, high, GRID_POINTS)
    values = np.stack([_on_grid(xs, ys, grid, sparse) for xs, ys in curves])
    q1, median, q3 = np.percentile(values, [25, 50, 75], axis=0)
    style_name = "steps-post" if sparse else "default"
    axes.fill_between(
        grid, q1, q3, color=colour, alpha=BAND_ALPHA, linewidth=0, step="post" if sparse else None
    )
    axes.plot(
        grid, median, color=colour, linestyle=linestyle, drawstyle=style_name, marker=marker,
        markevery=GRID_POINTS // 10,
    )  # fmt: skip
    return extent


def _on_grid(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray, step: bool) -> np.ndarray:
    """``ys`` at the ``grid`` points: linear between lines, or the last value carried forward."""
    if step:
        return ys[np.clip(np.searchsorted(xs, grid, side="right") - 1, 0, len(ys) - 1)]
    return np.interp(grid, xs, ys)
