"""The runs ``evo compare`` reads: a run folder's config, metrics and summary as one
:class:`Run`, and runs grouped by config and method (seeds apart)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo.analysis.plot import _number
from evo.errors import RunFolderError
from evo.runlog import RunRecord

WARMUP_ROUNDS = 2  # left out of the per-round medians when a run has enough rounds


@dataclass(frozen=True)
class Run:
    """One run folder as read for comparison: its config, metrics and summary (if finished)."""

    path: Path
    name: str
    seed: int | None
    method: str
    backend: str
    workers: int  # 0: serial (in-process)
    threshold: float | None
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] | None
    config: dict[str, Any] | None = None  # config.yaml as plain data
    setting: str = ""  # what sets it apart from runs of the same name (a sweep's setting)

    def column(self, key: str) -> np.ndarray:
        """A metrics key per line as floats (missing, null or not a number: NaN)."""
        return np.array([_float(row.get(key)) for row in self.metrics])

    @property
    def time(self) -> np.ndarray:
        """Wall seconds since the start of the loop, per line."""
        return self.column("time_s")

    @property
    def samples(self) -> np.ndarray:
        """Cumulative samples: ``samples`` if logged, else env steps, else evaluations."""
        for key in ("samples", "env_steps", "evaluations"):
            values = self.column(key)
            if np.isfinite(values).all() and values[-1] > 0:
                return values
        return self.column("evaluations")

    @property
    def bytes(self) -> np.ndarray:
        """Cumulative bytes sent and received by the orchestrator."""
        per_line = np.nan_to_num(self.column("bytes_sent")) + np.nan_to_num(
            self.column("bytes_received")
        )
        return np.cumsum(per_line)

    @property
    def final_score(self) -> float:
        """Held-out score from the summary (test accuracy, else final evaluation mean)."""
        if self.summary is None:
            return math.nan
        score = self.summary.get("test_accuracy")
        return _float(self.summary.get("final_eval_mean") if score is None else score)

    def round_costs(self) -> dict[str, float]:
        """Medians per round (after the warm-up): wall, compute, overhead and bytes."""
        wall = np.diff(self.time, prepend=0.0)
        parallel = np.maximum(1.0, np.fmin(self.column("tasks"), self.column("workers")))
        compute = self.column("compute_s") / np.nan_to_num(parallel, nan=1.0)
        sent = np.nan_to_num(self.column("bytes_sent")) + np.nan_to_num(
            self.column("bytes_received")
        )
        skip = WARMUP_ROUNDS if len(wall) > 2 * WARMUP_ROUNDS else 0
        return {
            "wall": _median(wall[skip:]),
            "compute": _median(compute[skip:]),
            "overhead": _median((wall - compute)[skip:]),
            "bytes": _median(sent[skip:]),
        }

    def reached(self, y: str, threshold: float | None) -> int | None:
        """Index of the first line whose ``y`` is at least ``threshold`` (None: never)."""
        if threshold is None:
            return None
        hits = np.flatnonzero(self.column(y) >= threshold)
        return int(hits[0]) if hits.size else None


def _cores(record: RunRecord) -> int | None:
    """The cores of the machine the run started on, as its start event says."""
    for event in record.events:
        if event.get("event") == "start":
            cores = (event.get("host") or {}).get("cores")
            return cores if isinstance(cores, int) and cores > 0 else None
    return None


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read a run folder (config, metrics, summary) without running anything in it."""
    record = RunRecord.read(path)
    config, metrics, summary = record.config, list(record.metrics), record.summary
    if not metrics:
        raise RunFolderError(f"{record.path}: no generations or rounds recorded yet")
    info = summary or {}
    backend = _section(config, "backend")
    if backend.get("kind") == "serial":
        label, workers = "serial", 0
    else:
        workers = backend.get("workers")
        if not isinstance(workers, int) and not backend.get("scheduler"):
            workers = _cores(record)  # an embedded cluster's: one per core, whether or
            # not the run started it (a short run keeps its generations in process)
        if not isinstance(workers, int):  # an external cluster: as logged
            logged = _median([_float(row.get("workers")) for row in metrics])
            workers = int(logged) if math.isfinite(logged) else 0
        label = f"dask {workers} worker{'s' if workers != 1 else ''}"
    return Run(
        path=record.path,
        name=str(config.get("name") or info.get("name") or record.path.name),
        seed=info.get("seed") if config.get("seed") is None else config["seed"],
        method=_method(config, info, metrics),
        backend=label,
        workers=workers,
        threshold=_threshold(config, info),
        metrics=metrics,
        summary=summary,
        config=config,
    )


def _method(config: dict[str, Any], summary: dict[str, Any], metrics: list[dict]) -> str:
    """The algorithm (``adam``, ``reinforce_adam``, ``openai_es`` ...), prefixed by
    "gradient" for gradient-trained runs."""
    algorithm = summary.get("algorithm")
    if "gradient" not in (summary.get("mode"), config.get("mode"), metrics[-1].get("mode")):
        return str(algorithm or _section(config, "algorithm").get("name") or "evolution")
    if not algorithm:  # unfinished: named as the trainer names itself in its summary
        optimizer = _section(config, "gradient").get("optimizer")
        on_env = config.get("data") is None
        algorithm = f"reinforce_{optimizer}" if optimizer and on_env else optimizer
    return f"gradient {algorithm}" if algorithm else "gradient"


def _threshold(config: dict[str, Any], summary: dict[str, Any]) -> float | None:
    """The config's stop target, else its final-evaluation bar, else the summary's."""
    for value in (
        _section(config, "stop").get("target_fitness"),
        _section(config, "final_eval").get("threshold"),
        summary.get("solve_threshold"),
    ):
        if value is not None and math.isfinite(_float(value)):
            return _float(value)
    return None


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Group:
    """Runs of one config and method on one backend (seeds apart)."""

    label: str
    runs: list[Run]


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs grouped by (config name and varied setting, method), split by backend where that
    varies; seeds apart."""
    from evo.analysis.labels import settings

    varied = settings([run.config or {"name": run.name} for run in runs])
    keys: dict[tuple[str, str, str], list[Run]] = {}
    for run, setting in zip(runs, varied, strict=True):
        name = f"{run.name} {setting}" if setting else run.name
        keys.setdefault((name, run.method, run.backend), []).append(run)
    backends: dict[tuple[str, str], int] = {}
    for name, method, _ in keys:
        backends[name, method] = backends.get((name, method), 0) + 1
    groups = []
    for (name, method, backend), members in keys.items():
        seeds = {run.seed for run in members}
        count = (
            f"{len(members)} seed{'s' if len(members) > 1 else ''}"
            if len(seeds) == len(members)
            else f"{len(members)} runs"
        )
        where = f", {backend}" if backends[name, method] > 1 else ""
        groups.append(Group(f"{name} {method}{where} ({count})", members))
    return groups


def _float(value: Any) -> float:
    try:
        return _number(value)
    except (TypeError, ValueError):
        return math.nan


def _median(values: Any) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else math.nan


def _median_inf(values: list[float]) -> float:
    """Median where never (inf) counts as the largest value."""
    return float(np.median(values)) if values else math.nan


def _last(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan
