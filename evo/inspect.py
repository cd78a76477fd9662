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


def format_events(folder: RunFolder) -> str:
    """``events.jsonl`` as a table: seconds since the start, event, generation, details."""
    events = folder.read_events()
    if not events:
        return "(no events recorded)"
    start = events[0].get("time", 0.0)
    lines = [f"{'time_s':>8}  {'event':<24}{'gen':>5}  details"]
    for event in events:
        fields = {k: v for k, v in event.items() if k not in ("time", "event", "generation")}
        generation = event.get("generation")
        if generation is not None and event.get("event") not in _COUNTED:
            generation += 1  # an index (0-based); shown 1-based like the table
        shown = "-" if generation is None else str(generation)
        details = ", ".join(f"{k}={_detail(v)}" for k, v in fields.items())
        lines.append(
            f"{event.get('time', start) - start:>8.2f}  {event.get('event', '?'):<24}"
            f"{shown:>5}  {details}"
        )
    return "\n".join(lines)


# Events whose ``generation`` counts the generations done (1-based already).
_COUNTED = {"checkpoint", "resume"}


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_detail(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ... ({len(value)})]"
    return _value(value)


def write_csv(rows: list[dict[str, Any]], out: Any) -> int:
    """Rows of JSON objects as CSV: every key that appears, in order of first appearance;
    a missing value is an empty cell. Returns the number of rows written."""
    import csv

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return len(rows)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return "" if value is None else value


def format_generation(folder: RunFolder, generation: int) -> str:
    """One generation's members (``generation`` from 0), best first: fitness, steps,
    worker, time and how each was made."""
    import numpy as np

    from evo.lineage import CENTRE, check_generation, made_from, read_generation

    check_generation(folder, generation)
    record = read_generation(folder, generation)
    fitness = record["fitness"]
    ranked = np.where(np.isnan(fitness), -np.inf, fitness)
    order = np.lexsort((np.arange(len(fitness)), -ranked))  # best first; ties by member
    workers = [str(w) for w in record["workers"]]
    names = [workers[w] if 0 <= w < len(workers) else "-" for w in record["worker"].tolist()]
    if str(record["bases"]) == CENTRE:
        about = "every member is the generation's centre plus noise"
        about += "; member 0 is the centre itself" if bool(record["incumbent"]) else ""
    else:
        about = "every member is a parent (GEN:ID) plus noise, or a copy of one (an elite)"
    width = max(6, *map(len, names))
    size = folder.lineage_path(generation).stat().st_size
    lines = [
        f"run: {folder.path}",
        f"generation {generation + 1}: {len(fitness)} members, best first ({about})",
        f"lineage: {folder.lineage_path(generation)}, {size / 1000:.1f} kB",
        "",
        f"{'rank':>4}  {'member':>6}  {'fitness':>10}  {'steps':>8}  {'worker':<{width}}  "
        f"{'seconds':>8}  made from",
    ]
    for rank, member in enumerate(order.tolist(), start=1):
        lines.append(
            f"{rank:>4}  {member:>6}  {fitness[member]:>10.2f}  {int(record['steps'][member]):>8}"
            f"  {names[member]:<{width}}  {float(record['seconds'][member]):>8.4f}"
            f"  {made_from(record, member)}"
        )
    return "\n".join(lines)


def format_lineage(folder: RunFolder, member: tuple[int, int] | None = None) -> str:
    """The ancestry of a member (``(generation from 0, member)``; default: the run's best),
    newest first, back to the initial parameters."""
    from evo.lineage import ancestry, best_member, check_member

    if member is None:
        best = best_member(folder)
        if best is None:
            return f"run: {folder.path}\n(every member failed: no best member)"
        generation, index, _ = best
        title = "the best member of the run"
    else:
        (generation, index), title = member, "member"
        check_member(folder, generation, index, "--lineage")
    steps = ancestry(folder, generation, index)
    lines = [
        f"run: {folder.path}",
        f"ancestry of {generation + 1}:{index} ({title}), newest first:",
        "",
        f"{'gen':>5}  {'member':>6}  {'fitness':>10}  {'steps':>8}  made from",
    ]
    for step in steps:
        lines.append(
            f"{step.generation + 1:>5}  {step.member:>6}  {step.fitness:>10.2f}  {step.steps:>8}"
            f"  {step.made_from}"
        )
    if steps and steps[-1].parent is not None:
        lines.append(f"(no lineage recorded for generation {steps[-1].parent[0] + 1})")
    return "\n".join(lines)
