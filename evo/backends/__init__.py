"""Where evaluation runs: in-process (``serial``) or on a Dask cluster (``dask``)."""

from __future__ import annotations

from typing import Any

from evo.backends.base import Backend, Evaluation, Normalizing, TaskRun, plan_chunks
from evo.config import BackendConfig
from evo.problems.base import Problem


def check_backend(config: BackendConfig, scheduler: str | None = None) -> None:
    """What can be checked of the backend before connecting (a Dask scheduler's address)."""
    if config.kind == "dask" or scheduler is not None:
        from evo.backends.address import check_address

        check_address(config, scheduler)


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


__all__ = [
    "Backend",
    "Evaluation",
    "Normalizing",
    "TaskRun",
    "check_backend",
    "make_backend",
    "plan_chunks",
]
