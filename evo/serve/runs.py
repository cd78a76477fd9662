"""What the live view shows of a run folder, read with :class:`~evo.runlog.RunRecord`
(the reader behind ``evo inspect``): status, curves, the newest generation's histogram.

Nothing here writes: a run folder is only ever opened for reading. A record is read again
only when one of its files has changed since the last look.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo.analysis.inspect import event_rows
from evo.errors import RunFolderError
from evo.runlog import CONFIG, EVENTS, METRICS, SUMMARY, RunRecord

# A run whose files changed this recently, and that has neither finished nor logged a stop,
# is taken to be running; past it, to have been stopped without a word (killed).
RUNNING_WITHIN_S = 120.0

# The x axes a curve can be drawn against: (metrics key, label).
X_AXES = {
    "generation": "generation",
    "time_s": "time (s)",
    "evaluations": "evaluations",
    "episodes": "episodes",
}

# The per-generation columns the page plots: metrics key -> column.
_CURVES = (
    "best_so_far",
    "fitness_max",
    "fitness_mean",
    "fitness_median",
    "fitness_min",
    "fitness_std",
    "evaluations",
    "episodes",
    "time_s",
    "workers",
)

_DASHBOARD = re.compile(r"\bdashboard (https?://\S+)")


def signature(path: Path) -> tuple:
    """What changes whenever a run's record does: its files' sizes and modification times."""
    stats = []
    for name in (CONFIG, METRICS, EVENTS, SUMMARY):
        try:
            info = os.stat(path / name)
        except OSError:
            stats.append(None)
        else:
            stats.append((info.st_size, info.st_mtime_ns))
    return tuple(stats)


def modified(path: Path) -> float:
    """The newest modification time of a run's log files (0: none)."""
    times = []
    for name in (CONFIG, METRICS, EVENTS, SUMMARY):
        try:
            times.append(os.stat(path / name).st_mtime)
        except OSError:
            continue
    return max(times, default=0.0)


class RecordCache:
    """Run records by folder, each read again only when :func:`signature` changes."""

    def __init__(self) -> None:
        self._records: dict[Path, tuple[tuple, RunRecord | RunFolderError]] = {}
        self._lock = threading.Lock()  # several browser sessions may ask at once

    def read(self, path: Path) -> RunRecord:
        """The record of the run folder ``path`` (a damaged one: :class:`RunFolderError`)."""
        path = Path(path)
        mark = signature(path)
        with self._lock:
            cached = self._records.get(path)
        if cached is None or cached[0] != mark:
            try:
                result: RunRecord | RunFolderError = RunRecord.read(path)
            except RunFolderError as exc:
                result = exc
            cached = (mark, result)
            with self._lock:
                self._records[path] = cached
        if isinstance(cached[1], RunFolderError):
            raise cached[1]
        return cached[1]


def run_status(record: RunRecord, now: float | None = None) -> str:
    """finished, interrupted, failed, running or unfinished (stopped without a word)."""
    if record.summary is not None:
        return "finished"
    session: list[dict[str, Any]] = []  # the events since the newest start or resume
    for event in record.events:
        session = [] if event.get("event") in ("start", "resume") else session
        session.append(event)
    stops = [event for event in session if event.get("event") == "stop"]
    if stops and stops[-1].get("reason") == "interrupted":
        return "interrupted"
    if stops and stops[-1].get("reason") in ("error", "no_workers"):
        return "failed"
    now = time.time() if now is None else now
    return "running" if now - modified(record.path) < RUNNING_WITHIN_S else "unfinished"


def dashboard_link(record: RunRecord) -> str | None:
    """The Dask dashboard of the run's newest start or resume, as its events recorded it."""
    for event in reversed(record.events):
        if event.get("event") in ("start", "resume"):
            found = _DASHBOARD.search(str(event.get("backend", "")))
            return found.group(1) if found else None
    return None


def series(metrics: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> dict[str, list[float]]:
    """The plotted columns, a value per generation (NaN where a line lacks one).

    ``generation`` is counted from 1, as ``evo inspect`` shows it; ``evaluations_per_s`` is
    the evaluations a generation added over the wall time it took; the bands are
    ``fitness_mean`` +- ``fitness_std``.
    """
    columns: dict[str, list[float]] = {"generation": []}
    columns |= {key: [] for key in _CURVES}
    for index, line in enumerate(metrics):
        generation = line.get("generation")
        columns["generation"].append(float(generation if _is_number(generation) else index + 1))
        for key in _CURVES:
            columns[key].append(_number(line.get(key)))
    mean, std = np.array(columns["fitness_mean"]), np.array(columns["fitness_std"])
    columns["std_low"] = (mean - std).tolist()
    columns["std_high"] = (mean + std).tolist()
    columns["evaluations_per_s"] = _rate(columns["evaluations"], columns["time_s"])
    return columns


def _rate(counts: list[float], times: list[float]) -> list[float]:
    rates = []
    previous_count, previous_time = 0.0, 0.0
    for count, seconds in zip(counts, times, strict=True):
        took = seconds - previous_time
        rates.append((count - previous_count) / took if took > 0 else math.nan)
        if not (math.isnan(count) or math.isnan(seconds)):
            previous_count, previous_time = count, seconds
    return rates


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float:
    if isinstance(value, str) and value in ("inf", "-inf"):
        return float(value)  # the run log writes infinities as strings
    return float(value) if _is_number(value) else math.nan


@dataclass(frozen=True)
class Histogram:
    """The fitness values of one generation's members, binned."""

    generation: int  # counted from 1
    members: int
    failed: int  # members whose evaluation failed (NaN fitness)
    left: list[float]
    right: list[float]
    counts: list[int]


def histogram(record: RunRecord, bins: int = 30) -> Histogram | None:
    """The newest recorded generation's fitness (from its lineage), or None: no lineage."""
    folder = record.folder
    generations = folder.lineage_generations()
    if not generations:
        return None
    try:
        fitness = np.asarray(folder.read_lineage(generations[-1])["fitness"], dtype=float)
    except (RunFolderError, KeyError):
        return None
    finite = fitness[np.isfinite(fitness)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        if low == high:
            low, high = low - 0.5, high + 0.5
        counts, edges = np.histogram(finite, bins=min(bins, max(1, finite.size)), range=(low, high))
    else:
        counts, edges = np.zeros(0, dtype=int), np.zeros(1)
    return Histogram(
        generation=generations[-1],
        members=int(fitness.size),
        failed=int(np.isnan(fitness).sum()),
        left=edges[:-1].tolist(),
        right=edges[1:].tolist(),
        counts=counts.tolist(),
    )


def events(record: RunRecord) -> dict[str, list[str]]:
    """``events.jsonl`` as the columns of ``evo inspect --events``."""
    rows = event_rows(record)
    names = ("time_s", "event", "generation", "details")
    return {name: [row[index] for row in rows] for index, name in enumerate(names)}


def event_marks(record: RunRecord) -> dict[str, list]:
    """Events worth a mark on the curves (workers lost, stragglers, checkpoints), each at
    the generation it happened in, counted from 1."""
    marks: dict[str, list] = {"generation": [], "event": []}
    for event in record.events:
        name = event.get("event")
        generation = event.get("generation")
        if name not in _MARKED or not _is_number(generation):
            continue
        # A checkpoint counts the generations done: it is marked at the last one done.
        marks["generation"].append(float(generation))
        marks["event"].append(str(name))
    return marks


_MARKED = {"worker_left", "stragglers_resubmitted", "checkpoint", "member_killed_workers"}


def overview(record: RunRecord, now: float | None = None) -> dict[str, Any]:
    """What a listing shows of a run: name, status, generations done, best so far."""
    metrics = record.metrics
    best = _number(metrics[-1].get("best_so_far")) if metrics else math.nan
    return {
        "name": str(record.config.get("name", record.path.name)),
        "status": run_status(record, now),
        "generations": len(metrics),
        "planned": record.config.get("generations"),
        "best": best,
    }
