"""Text views of a run folder for ``evo inspect``."""

from __future__ import annotations

from typing import Any

from evo.runlog import RunFolder

_COLUMNS = [
    ("gen", "generation", "{:>5}"),
    ("evals", "evaluations", "{:>8}"),
    ("steps", "env_steps", "{:>10}"),
    ("max", "fitness_max", "{:>9.2f}"),
    ("mean", "fitness_mean", "{:>9.2f}"),
    ("median", "fitness_median", "{:>9.2f}"),
    ("min", "fitness_min", "{:>9.2f}"),
    ("std", "fitness_std", "{:>8.2f}"),
    ("solution", "solution_fitness", "{:>9.2f}"),
    ("best", "best_so_far", "{:>9.2f}"),
    ("time_s", "time_s", "{:>8.1f}"),
    ("eval_s", "evaluate_s", "{:>7.2f}"),
    ("workers", "workers", "{:>7}"),
]


def format_run(folder: RunFolder, max_rows: int = 60) -> str:
    """A run's summary followed by its per-generation table."""
    lines = [f"run: {folder.path}"]
    summary = folder.read_summary()
    if summary is None:
        lines.append("status: unfinished (no summary.json)")
    else:
        lines += [f"{key}: {_value(value)}" for key, value in summary.items()]
    metrics = folder.read_metrics()
    lines.append("")
    lines.append(format_table(metrics, max_rows))
    return "\n".join(lines)


def format_table(metrics: list[dict[str, Any]], max_rows: int = 60) -> str:
    """Per-generation table; long runs show their first and last rows."""
    if not metrics:
        return "(no generations recorded)"
    widths = [len(fmt.format(0) if "f" not in fmt else fmt.format(0.0)) for _, _, fmt in _COLUMNS]
    header = "  ".join(
        name.rjust(width) for (name, _, _), width in zip(_COLUMNS, widths, strict=True)
    )
    rows = metrics
    if len(metrics) > max_rows:
        half = max_rows // 2
        rows = [*metrics[:half], None, *metrics[-half:]]
    out = [header]
    for row in rows:
        if row is None:
            out.append("...".center(len(header)))
            continue
        cells = []
        for (_, key, fmt), width in zip(_COLUMNS, widths, strict=True):
            value = row.get(key)
            if key == "generation" and value is not None:
                value += 1
            cells.append(fmt.format(value) if isinstance(value, (int, float)) else "-".rjust(width))
        out.append("  ".join(cells))
    return "\n".join(out)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.6g}"
    return str(value)
