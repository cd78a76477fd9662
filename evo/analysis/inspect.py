"""Text views of a run folder, or of a sweep folder, for ``evo inspect``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evo.analysis.tables import Column, left_then_right, plain, table
from evo.runlog import RunRecord
from evo.sweep import SweepFolder, outcomes

# The per-generation table: header, metrics key, width, format of a number.
_COLUMNS = [
    ("gen", "generation", 5, ""),
    ("evals", "evaluations", 8, ""),
    ("steps", "env_steps", 10, ""),
    ("max", "fitness_max", 9, ".2f"),
    ("mean", "fitness_mean", 9, ".2f"),
    ("median", "fitness_median", 9, ".2f"),
    ("min", "fitness_min", 9, ".2f"),
    ("std", "fitness_std", 8, ".2f"),
    ("solution", "solution_fitness", 9, ".2f"),
    ("best", "best_so_far", 9, ".2f"),
    ("time_s", "time_s", 8, ".1f"),
    ("eval_s", "evaluate_s", 7, ".2f"),
    ("workers", "workers", 7, ""),
]


def format_run(run: RunRecord, max_rows: int = 60) -> str:
    """A run's summary followed by its per-generation table."""
    lines = [f"run: {run.path}"]
    summary = run.summary
    if summary is None:
        lines.append("status: unfinished (no summary.json)")
    else:
        lines += [f"{key}: {_value(value)}" for key, value in summary.items()]
    lines.append("")
    lines.append(format_table(run.metrics, max_rows))
    return "\n".join(lines)


def format_table(metrics: Sequence[dict[str, Any]], max_rows: int = 60) -> str:
    """Per-generation table; long runs show their first and last rows."""
    if not metrics:
        return "(no generations recorded)"
    half = max_rows // 2
    shown = metrics if len(metrics) <= max_rows else [*metrics[:half], *metrics[-half:]]
    columns = [Column(name, width=width) for name, _, width, _ in _COLUMNS]
    lines = table(
        columns, [[_metric(row, key, spec) for _, key, _, spec in _COLUMNS] for row in shown]
    )
    if len(metrics) > max_rows:
        lines.insert(1 + half, "...".center(len(lines[0])))
    return "\n".join(lines)


def _metric(row: dict[str, Any], key: str, spec: str) -> str:
    value = row.get(key)
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.6g}"
    return plain(value)


def format_events(run: RunRecord) -> str:
    """``events.jsonl`` as a table: seconds since the start, event, generation, details."""
    rows = event_rows(run)
    if not rows:
        return "(no events recorded)"
    return "\n".join(table(_EVENT_COLUMNS, rows))


def event_rows(run: RunRecord) -> list[list[str]]:
    """Each event as text cells: seconds since the first event, the event's name, the
    generation (a checkpoint's and a resume's: the generations done) and its other fields."""
    events = run.events
    start = events[0].get("time", 0.0) if events else 0.0
    rows = []
    for event in events:
        fields = {k: v for k, v in event.items() if k not in ("time", "event", "generation")}
        generation = event.get("generation")
        shown = "-" if generation is None else str(generation)
        details = ", ".join(f"{k}={_detail(v)}" for k, v in fields.items())
        seconds = f"{event.get('time', start) - start:.2f}"
        rows.append([seconds, plain(event.get("event", "?")), shown, details])
    return rows


# The event's name and generation touch: a name of 24 characters or more pushes the rest along.
_EVENT_COLUMNS = [
    Column("time_s", width=8),
    Column("event", "<", width=24),
    Column("gen", width=5, gap=""),
    Column("details", "<", width=0),
]


# Events whose ``generation`` counts the generations done (1-based already).
def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_detail(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{', '.join(map(plain, value[:8]))}, ... ({len(value)})]"
    return _value(value)


def sweep_rows(folder: SweepFolder) -> list[dict[str, Any]]:
    """Per setting of a sweep: the final score's median, quartiles and per-seed values,
    the runs solved and the median wall time (runs not finished have no score)."""
    rows = []
    for setting, runs in outcomes(folder):
        scores = [run.score for run in runs if run.status == "finished" and run.score is not None]
        low, median, high = np.percentile(scores, [25, 50, 75]) if scores else (None,) * 3
        judged = [run.solved for run in runs if run.solved is not None]
        times = [run.wall_time_s for run in runs if run.wall_time_s is not None]
        rows.append(
            {
                "setting": setting,
                "runs": len(runs),
                "finished": sum(run.status == "finished" for run in runs),
                "median": None if median is None else float(median),
                "q25": None if low is None else float(low),
                "q75": None if high is None else float(high),
                "iqr": None if low is None else float(high - low),
                "solved": sum(judged) if judged else None,
                "time_s": float(np.median(times)) if times else None,
                "seeds": [
                    {"seed": run.seed, "folder": run.folder, "status": run.status}
                    | {"score": run.score, "error": run.error}
                    for run in runs
                ],
            }
        )
    return rows


def format_sweep(folder: SweepFolder) -> str:
    """A sweep's settings x final score: median, inter-quartile range, every seed's value,
    runs solved, median time; then the runs that failed and why."""
    record = folder.record
    statuses = Counter(plain(entry.get("status", "unknown")) for entry in folder.runs())
    tally = ", ".join(f"{count} {status}" for status, count in statuses.items())
    lines = [f"sweep: {folder.path}", f"status: {plain(record.get('status', 'unknown'))} ({tally})"]
    given = " ".join(f"--set {item}" for item in record.get("overrides", []))
    lines.append(f"config: {plain(record.get('config', '?'))}{' ' + given if given else ''}")
    for key, values in (record.get("grid") or {}).items():
        lines.append(f"grid: {key} = {', '.join(_detail(v) for v in values)}")
    lines.append(f"seeds: {', '.join(map(plain, record.get('seeds', [])))}")
    lines.append("")
    rows = sweep_rows(folder)
    cells = []
    for row in rows:
        solved = "-" if row["solved"] is None else f"{row['solved']}/{row['runs']}"
        per_seed = "  ".join(
            f"{plain(seed['seed'])}:"
            + (_score(seed["score"]) if seed["status"] == "finished" else plain(seed["status"]))
            for seed in row["seeds"]
        )
        cells.append(
            [
                row["setting"] or plain(record.get("name")),
                f"{row['finished']}/{row['runs']}",
                _score(row["median"]),
                _score(row["iqr"]),
                solved,
                "-" if row["time_s"] is None else f"{row['time_s']:.1f}",
                per_seed,
            ]
        )
    header = ["setting", "runs", "final", "iqr", "solved", "time_s", "per seed"]
    lines += table(left_then_right(header, frozenset({0, 6})), cells, strip=True)
    lines.append("final: median over the seeds of each run's final evaluation (mean return on")
    lines.append("fresh episodes; its best fitness without one); iqr: 75th - 25th percentile")
    failed = [seed for row in rows for seed in row["seeds"] if seed["status"] == "failed"]
    if failed:
        lines += ["", "failed runs:"]
        lines += [f"  {seed['folder']}: {plain(seed['error'])}" for seed in failed]
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_generation(run: RunRecord, generation: int) -> str:
    """One generation's members (``generation`` from 1), best first: fitness, steps,
    worker, time and how each was made."""
    import numpy as np

    from evo.lineage import CENTRE, check_generation, made_from, read_generation

    folder = run.folder
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
    size = folder.lineage_path(generation).stat().st_size
    lines = [
        f"run: {folder.path}",
        f"generation {generation}: {len(fitness)} members, best first ({about})",
        f"lineage: {folder.lineage_path(generation)}, {size / 1000:.1f} kB",
        "",
    ]
    rows = []
    for rank, member in enumerate(order.tolist(), start=1):
        steps, seconds = int(record["steps"][member]), float(record["seconds"][member])
        cells = [f"{fitness[member]:.2f}", str(steps), names[member], f"{seconds:.4f}"]
        rows.append([str(rank), str(member), *cells, made_from(record, member)])
    lines += table(_GENERATION_COLUMNS, rows)
    return "\n".join(lines)


_GENERATION_COLUMNS = [
    Column("rank", width=4),
    Column("member", width=6),
    Column("fitness", width=10),
    Column("steps", width=8),
    Column("worker", "<"),
    Column("seconds", width=8),
    Column("made from", "<", width=0),
]


def format_lineage(run: RunRecord, member: tuple[int, int] | None = None) -> str:
    """The ancestry of a member (``(generation from 1, member)``; default: the run's best),
    newest first, back to the initial parameters."""
    from evo.lineage import ancestry, best_member, check_member

    folder = run.folder
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
        f"ancestry of {generation}:{index} ({title}), newest first:",
        "",
    ]
    rows = [
        [
            str(step.generation),
            str(step.member),
            f"{step.fitness:.2f}",
            str(step.steps),
            step.made_from,
        ]
        for step in steps
    ]
    lines += table(_LINEAGE_COLUMNS, rows)
    if steps and steps[-1].parent is not None:
        lines.append(f"(no lineage recorded for generation {steps[-1].parent[0]})")
    return "\n".join(lines)


_LINEAGE_COLUMNS = [
    Column("gen", width=5),
    Column("member", width=6),
    Column("fitness", width=10),
    Column("steps", width=8),
    Column("made from", "<", width=0),
]
