"""Where evaluation runs: in-process (``serial``) or on a Dask cluster (``dask``)."""

from __future__ import annotations

from typing import Any

from evo.backends.base import Backend, Evaluation, Normalizing, TaskRun, plan_chunks
from evo.config import BackendConfig
from evo.problems.base import Problem


def make_backend(
    problem: Problem,
    config: BackendConfig,
    *,
    client: Any = None,
    cluster: Any = None,
    scheduler: str | None = None,
) -> Backend:
    """The backend ``config.kind`` names (a given client, cluster or scheduler implies
    Dask)."""
    if config.kind == "serial" and client is None and cluster is None and scheduler is None:
        from evo.backends.serial import SerialBackend

        return SerialBackend(problem, config)
    from evo.backends.dask import DaskBackend

    return DaskBackend(problem, config, client=client, cluster=cluster, scheduler=scheduler)


__all__ = ["Backend", "Evaluation", "Normalizing", "TaskRun", "make_backend", "plan_chunks"]
