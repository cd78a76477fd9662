"""The embedded cluster's class: Dask's ``LocalCluster``, less one race of its close.

A worker process that is closed while it registers can be reported removed to the
cluster before it was reported added; Dask's ``SpecCluster`` then looks the worker up,
raises ``KeyError`` in its status watcher, and its close fails after the processes are
gone. Such a removal is of a worker the cluster never knew: it is ignored.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _cluster_class() -> type:
    from distributed import LocalCluster

    class EmbeddedCluster(LocalCluster):
        def _update_worker_status(self, op: str, msg: Any) -> None:
            if op == "remove" and msg not in self.scheduler_info.get("workers", {}):
                return  # removed before it was added: nothing of it to forget
            super()._update_worker_status(op, msg)

    return EmbeddedCluster


def embedded_cluster(**kwargs: Any) -> Any:
    """A ``LocalCluster`` made with ``kwargs`` (see the module docstring)."""
    return _cluster_class()(**kwargs)
