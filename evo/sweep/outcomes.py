"""How the runs of a sweep ended, as their folders and the sweep's record show it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evo.runlog import SUMMARY, RunFolder
from evo.sweep.folder import SweepFolder


def final_score(summary: Mapping[str, Any]) -> float | None:
    """A run's score: its final evaluation's mean return, or without one its best fitness."""
    value = summary.get("final_eval_mean") if summary.get("final_eval_episodes") else None
    if value is None:
        value = summary.get("best_fitness")
    try:
        value = float(value)  # "inf"/"-inf" as the run log writes them
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class RunOutcome:
    """One run of a sweep as its folder and the sweep's record show it."""

    folder: str
    seed: Any
    status: str
    error: str | None
    score: float | None
    solved: bool | None
    wall_time_s: float | None
    generations: int | None


def outcomes(folder: SweepFolder) -> list[tuple[str, list[RunOutcome]]]:
    """Each setting's runs: status from ``sweep.json``, results from their summaries."""
    table = []
    for setting, entries in folder.settings():
        runs = []
        for entry in entries:
            summary = None
            path = folder.run_path(entry)
            if (path / SUMMARY).is_file():
                summary = RunFolder(path).read_summary()
            summary = summary or {}
            status = entry.get("status", "unknown")
            if summary and status != "finished":
                status = "finished"  # the sweep stopped before recording it
            runs.append(
                RunOutcome(
                    folder=entry["folder"],
                    seed=entry.get("seed"),
                    status=status,
                    error=entry.get("error"),
                    score=final_score(summary) if summary else None,
                    solved=summary.get("solved")
                    if summary.get("solve_threshold") is not None
                    else None,
                    wall_time_s=summary.get("wall_time_s"),
                    generations=summary.get("generations"),
                )
            )
        table.append((setting, runs))
    return table
