"""Sweeps: one config over several seeds and a grid of settings, in one folder, on one cluster.

``runs/<name>-sweep-<YYYYmmdd-HHMMSS>/``::

    sweep.json            the grid, the seeds, and each run: setting, seed, status, error
    base.yaml             the config as given, ``--set`` applied: each run is this plus
                          its setting and its seed
    sigma=0.02-seed=0/    a run folder per (setting, seed), as ``evo run`` makes them
    ...

Every run's config is validated before anything is written. The runs share
one Dask client (an embedded LocalCluster, or ``--scheduler``) and several run
at once: each generation ends at a barrier where an experiment's workers wait
for its slowest task, and another experiment's tasks fill them. A run that
fails is recorded and the others go on; Ctrl-C stops them all.
"""

from __future__ import annotations

from evo.sweep.folder import BASE, SWEEP, SweepFolder
from evo.sweep.outcomes import RunOutcome, final_score, outcomes
from evo.sweep.plan import (
    CLUSTER_KEYS,
    MAX_RUNS,
    Member,
    check_grid,
    default_seeds,
    parse_grid,
    parse_seeds,
    plan,
)
from evo.sweep.runner import SweepResult, resume_sweep, run_sweep

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
