"""Sweeps: one config over several seeds and a grid of settings, in one folder, on one cluster."""

from __future__ import annotations

from evo.sweep.runner import (
    BASE,
    CLUSTER_KEYS,
    MAX_RUNS,
    SWEEP,
    Member,
    RunOutcome,
    SweepFolder,
    SweepResult,
    check_grid,
    default_seeds,
    final_score,
    outcomes,
    parse_grid,
    parse_seeds,
    plan,
    resume_sweep,
    run_sweep,
)

__all__ = [
    "BASE",
    "CLUSTER_KEYS",
    "MAX_RUNS",
    "SWEEP",
    "Member",
    "RunOutcome",
    "SweepFolder",
    "SweepResult",
    "check_grid",
    "default_seeds",
    "final_score",
    "outcomes",
    "parse_grid",
    "parse_seeds",
    "plan",
    "resume_sweep",
    "run_sweep",
]
