"""Evaluation on a Dask cluster: an embedded LocalCluster, a scheduler address, or a Client.

Per generation the base vectors are submitted once as a task of their own (a
value Dask can recompute if the worker holding it dies, unlike a ``scatter``
copy) and every chunk task takes that future positionally. Chunk tasks are
``pure=False``; results are gathered, placed in member order and their futures
released at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from evo.backends.base import Evaluation, assemble, make_chunks, plan_chunks
from evo.config import BackendConfig
from evo.errors import ConfigError, EvaluationError, WorkersLostError
from evo.evaluation import Problem, evaluate_chunk
from evo.interrupts import deferred
from evo.population import Population

ADDRESS = re.compile(r"^[a-z+]+://\S+:\d+$")


def generation_bases(bases: np.ndarray) -> np.ndarray:
    """Identity task: makes the generation's base vectors a recomputable Dask value."""
    return bases


def resolve_address(config: BackendConfig, scheduler: str | None = None) -> str | None:
    """Scheduler address: ``--scheduler``, then the config, then ``DASK_SCHEDULER_ADDRESS``."""
    return scheduler or config.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start processes that ignore SIGINT (they inherit it), so a terminal's Ctrl-C,
    sent to the whole process group, reaches only the orchestrator, which then
    closes the cluster in order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_interruptibly(futures: list, watch: Callable[[], None] | None = None) -> None:
    """Block until every future is done (finished, failed or cancelled).

    Waiting on our own event rather than inside ``Client.gather`` means Ctrl-C
    lands in this function, not in distributed's event-loop bridge, which logs
    spurious tracebacks when interrupted. ``watch`` is called every second while
    waiting (it may raise to give up).
    """
    done = threading.Event()
    lock = threading.Lock()
    remaining = [len(futures)]

    def finished(_: object) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()

    if not futures:
        return
    for future in futures:
        future.add_done_callback(finished)
    while not done.wait(timeout=1.0):
        if watch is not None:
            watch()


class DaskBackend:
    """Farms chunks of members to Dask workers."""

    def __init__(
        self,
        problem: Problem,
        config: BackendConfig,
        *,
        client: object | None = None,
        scheduler: str | None = None,
    ) -> None:
        self.problem = problem
        self.config = config
        self.cluster = None
        self.client = client
        self._owns_client = client is None
        try:
            with deferred():
                if client is None:
                    self.client = self._connect(config, scheduler)
        except BaseException:
            self.close()  # an interrupt during start-up must not leave the cluster running
            raise
        self._problem_bytes = len(pickle.dumps(problem))
        self._workerless_since: float | None = None

    def _connect(self, config: BackendConfig, scheduler: str | None) -> object:
        from distributed import Client, LocalCluster

        if address := resolve_address(config, scheduler):
            if not ADDRESS.match(address):
                raise ConfigError(
                    "backend.scheduler: expected an address like tcp://HOST:PORT, "
                    f"found {address!r}"
                )
            try:
                return Client(address, timeout=config.connect_timeout_s)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    f"backend.scheduler: cannot reach a Dask scheduler at {address!r}: {exc}"
                ) from None
        workers = config.workers or os.cpu_count() or 1
        with _workers_ignore_sigint():
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            )
        try:
            client = Client(self.cluster)
            client.wait_for_workers(workers)
            return client
        except BaseException:
            self.cluster.close()
            raise

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        return self.cluster_size()[0]

    def cluster_size(self) -> tuple[int, int]:
        """(workers, worker threads) the scheduler knows now: one round trip."""
        with deferred():
            info = self.client.scheduler_info(n_workers=-1)["workers"]
        return len(info), sum(worker.get("nthreads", 1) for worker in info.values())

    def _watch_workers(self) -> None:
        """Give up on a generation when the cluster has had no worker for too long."""
        if self.cluster_size()[0] > 0:
            self._workerless_since = None
            return
        now = time.monotonic()
        if self._workerless_since is None:
            self._workerless_since = now
        elif now - self._workerless_since > self.config.worker_timeout_s:
            raise WorkersLostError(
                f"no Dask workers for {self.config.worker_timeout_s:g} s "
                f"(backend.worker_timeout_s); start workers and run `evo resume`"
            )

    def describe(self) -> str:
        """One line for the console: where the scheduler and its dashboard are."""
        kind = "embedded LocalCluster" if self.cluster is not None else "scheduler"
        workers = self.workers
        dashboard = self.client.dashboard_link if self.cluster is not None else None
        text = f"dask backend: {kind} at {self.client.scheduler.address}, {workers} workers"
        return f"{text}, dashboard {dashboard}" if dashboard else text

    def evaluate(
        self, population: Population, episode_seeds: np.ndarray, generation: int
    ) -> Evaluation:
        """Fitness of every member, in member order."""
        workers, slots = self.cluster_size()
        plan = plan_chunks(population.size, self.config.chunk_size, slots)
        chunks = make_chunks(population, episode_seeds, plan)
        futures: list = []
        try:
            with deferred():
                bases = self.client.submit(generation_bases, population.bases, pure=False)
                futures = [bases]
                futures += self.client.map(
                    evaluate_chunk,
                    [self.problem] * len(chunks),
                    [bases] * len(chunks),
                    chunks,
                    pure=False,
                )
            wait_interruptibly(futures[1:], self._watch_workers)  # Ctrl-C lands here
            with deferred():
                try:
                    results = self.client.gather(futures[1:])
                except Exception as exc:  # a task failed as a whole (e.g. KilledWorker)
                    where = "the final evaluation" if generation < 0 else f"generation {generation}"
                    raise EvaluationError(
                        f"evaluation failed at {where}: a task failed on the cluster: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
        except BaseException:
            with deferred():
                if futures:
                    self.client.cancel(futures)  # interrupted or failed: stop the rest
            raise
        finally:
            with deferred():
                for future in futures:
                    future.release()
            del futures
        payload = population.bases.nbytes + sum(c.nbytes + self._problem_bytes for c in chunks)
        received = sum(r.nbytes for r in results)
        return assemble(
            population.size, results, workers=workers, bytes_sent=payload, bytes_received=received
        )

    def close(self) -> None:
        """Close the client and, if this backend started it, the cluster."""
        with deferred():
            if self._owns_client and self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
