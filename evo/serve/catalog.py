"""The runs and sweeps under a folder, as the live view lists them, and a sweep's settings x
seeds table; read with the readers behind ``evo inspect`` (nothing here writes).

The root may itself be a run folder or a sweep folder. Run and sweep folders are looked for
up to three levels below it; a sweep's runs are listed under the sweep.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evo.errors import RunFolderError
from evo.runlog import CONFIG
from evo.serve.runs import RecordCache, modified, overview
from evo.sweep import SWEEP, SweepFolder, outcomes

_DEPTH = 3  # how far below the root run and sweep folders are looked for


@dataclass(frozen=True)
class Entry:
    """A run or sweep folder found under the root, with what its line in the listing shows."""

    key: str  # its path relative to the root, with "/" ("." for the root itself)
    kind: str  # "run" or "sweep"
    name: str  # the config's name (a run) or the sweep's
    status: str  # a run's (see runs.run_status) or the sweep's record ("running", ...)
    generations: int = 0  # lines in metrics.jsonl
    planned: Any = None  # the config's `generations`
    best: float = math.nan  # best so far
    updated: float = 0.0  # newest modification time of its files
    runs: list[Entry] = field(default_factory=list)  # a sweep's runs, in the sweep's order


def kind_of(path: Path) -> str | None:
    """ "sweep", "run" or None: what the folder ``path`` is."""
    if (path / SWEEP).is_file():
        return "sweep"
    if (path / CONFIG).is_file():
        return "run"
    return None


def entries(root: Path, cache: RecordCache) -> list[Entry]:
    """Every run and sweep under ``root``: running ones first, then the newest first."""
    found = _scan(Path(root), ".", 0, cache)
    found.sort(key=lambda entry: (entry.status == "running", entry.updated), reverse=True)
    return found


def _scan(path: Path, key: str, depth: int, cache: RecordCache) -> list[Entry]:
    kind = kind_of(path)
    if kind == "sweep":
        return [_sweep_entry(path, key, cache)]
    if kind == "run":
        return [_run_entry(path, key, cache)]
    if depth >= _DEPTH:
        return []
    try:
        children = sorted((c for c in os.scandir(path) if c.is_dir()), key=lambda c: c.name)
    except OSError:
        return []
    found = []
    for child in children:
        if not child.name.startswith("."):
            inner = child.name if key == "." else f"{key}/{child.name}"
            found += _scan(Path(child.path), inner, depth + 1, cache)
    return found


def _run_entry(path: Path, key: str, cache: RecordCache) -> Entry:
    try:
        seen = overview(cache.read(path))
    except (RunFolderError, OSError):
        return Entry(key, "run", path.name, "unreadable", updated=modified(path))
    return Entry(
        key,
        "run",
        seen["name"],
        seen["status"],
        seen["generations"],
        seen["planned"],
        seen["best"],
        modified(path),
    )


def _sweep_entry(path: Path, key: str, cache: RecordCache) -> Entry:
    try:
        sweep = SweepFolder.open(path)
    except RunFolderError:
        return Entry(key, "sweep", path.name, "unreadable", updated=_mtime(path / SWEEP))
    runs = []
    for entry in sweep.runs():
        run_key = entry["folder"] if key == "." else f"{key}/{entry['folder']}"
        if kind_of(sweep.run_path(entry)) == "run":
            runs.append(_run_entry(sweep.run_path(entry), run_key, cache))
        else:
            runs.append(Entry(run_key, "run", entry["folder"], str(entry.get("status", "pending"))))
    updated = max([_mtime(path / SWEEP), *(run.updated for run in runs)])
    status = str(sweep.record.get("status", "unknown"))
    name = str(sweep.record.get("name", path.name))
    return Entry(key, "sweep", name, status, updated=updated, runs=runs)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class SweepTable:
    """A sweep's settings x seeds: a row per setting (cells keyed by seed), and each
    setting's run keys."""

    seeds: list[str]
    rows: list[dict[str, str]]
    runs: dict[str, list[str]]
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # setting -> seed -> key


def sweep_table(path: Path, key: str, cache: RecordCache) -> SweepTable:
    """The sweep's table: a finished run's final score (as ``evo inspect SWEEP`` takes it),
    a running one's generation and best so far, else its status; then per setting the runs
    finished and the median final score."""
    sweep = SweepFolder.open(path)
    seeds: list[str] = []
    rows, runs, links = [], {}, {}
    for setting, outcome in outcomes(sweep):
        label = setting or str(sweep.record.get("name", path.name))
        row = {"setting": label}
        runs[label] = [run.folder if key == "." else f"{key}/{run.folder}" for run in outcome]
        links[label] = {}
        for run, run_key in zip(outcome, runs[label], strict=True):
            seed = str(run.seed)
            links[label][seed] = run_key
            if seed not in seeds:
                seeds.append(seed)
            row[seed] = _cell(sweep.path / run.folder, run, cache)
        done = [run for run in outcome if run.status == "finished"]
        scores = [run.score for run in done if run.score is not None]
        row["finished"] = f"{len(done)}/{len(outcome)}"
        row["median"] = f"{float(np.median(scores)):.2f}" if scores else "-"
        rows.append(row)
    return SweepTable(seeds, rows, runs, links)


def _cell(path: Path, run: Any, cache: RecordCache) -> str:
    if run.status == "finished" and run.score is not None:
        return f"{run.score:.2f}"
    if run.status == "failed":
        return "failed"
    if kind_of(path) != "run":
        return str(run.status)
    try:
        seen = overview(cache.read(path))
    except (RunFolderError, OSError):
        return "unreadable"
    best = "" if math.isnan(seen["best"]) else f", best {seen['best']:.2f}"
    return f"{seen['status']}: gen {seen['generations']}{best}"
