"""A batch of tasks on a Dask cluster: the wrappers that run on the workers, where the
batch may run, each submission of a task, and what the batch produced."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from evo.interrupts import deferred
from evo.problems.base import ChunkResult


def generation_bases(bases: np.ndarray) -> np.ndarray:
    """Identity task: makes the generation's base vectors a recomputable Dask value."""
    return bases


def run_on_worker(
    function: Callable[[Any, np.ndarray, Any], Any], problem: Any, shared: np.ndarray, payload: Any
) -> Any:
    """``function(problem, shared, payload)``, plus which worker ran it and its Dask
    transfer counter (the result is a dataclass with ``worker`` and ``transfer_total``)."""
    result = function(problem, shared, payload)
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:  # not on a worker (e.g. the client's own thread pool)
        return result
    return replace(
        result, worker=worker.address, transfer_total=int(worker.transfer_outgoing_bytes_total)
    )


def _nothing() -> None:
    """No watch."""


@dataclass(frozen=True)
class Placement:
    """Where a batch of tasks may run and how it is watched (the backend decides, per batch)."""

    workers: tuple[str, ...] | None  # None: any worker; else only these (hung ones left out)
    workers_count: int  # workers in use now
    threads: int  # their threads
    straggler_factor: float  # see BackendConfig.straggler_factor
    watch: Callable[[], None] = _nothing  # may raise: no workers for too long
    departed: Callable[[], set[str]] = set  # addresses of workers that have left the cluster
    direct: bool | None = None  # gather straight from the workers (None: Dask's default)
    annotations: dict[str, Any] = field(default_factory=dict)  # Dask annotations for tasks
    exclusive: bool = True  # no other experiment's tasks on these workers
    # Futures done with, released once the next batch is submitted (None: at once). A
    # client batches what it sends the scheduler, a message at most every 10 ms: releases
    # sent as a batch ends would hold up the next batch's tasks by most of that.
    held: list[Any] | None = None

    def drop(self, futures: list[Any]) -> None:
        """Done with ``futures``: released now, or with the next batch (see ``held``)."""
        if self.held is not None:
            self.held.extend(futures)
        else:
            release(futures)

    def release_held(self) -> None:
        """Release the last batch's futures: call once this batch is submitted."""
        release_held(self.held)


def release_held(held: list[Any] | None) -> None:
    """Release the futures in ``held`` and empty it."""
    if held:
        futures, held[:] = list(held), []
        release(futures)


def release(futures: list[Any]) -> None:
    """Tell the scheduler these futures are no longer wanted."""
    with deferred():
        for future in futures:
            future.release()


@dataclass
class Attempt:
    """One submission of a chunk (a chunk may have a backup attempt running too)."""

    chunk: int
    future: Any
    backup: bool = False
    submitted: float = field(default_factory=time.monotonic)


@dataclass
class Outcome:
    """What the generation produced: results in chunk order, and what happened."""

    results: list[ChunkResult]
    events: list[dict[str, Any]] = field(default_factory=list)
    retried: int = 0  # tasks submitted again (backups of stragglers, split chunks)
    suspects: set[str] = field(default_factory=set)  # workers that held straggling chunks
