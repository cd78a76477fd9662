"""Evaluation on a Dask cluster: an embedded LocalCluster, a scheduler address, or a Client.

Per generation the base vectors are submitted once as a task of their own (a
value Dask can recompute if the worker holding it dies, unlike a ``scatter``
copy) and every chunk task takes that future positionally. Chunk tasks are
``pure=False``; each result is collected as soon as it is in and its future
released. Faults (dead, hung and poisoned workers) are handled per generation
by :class:`evo.backends.scheduling.GenerationRun`.
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
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dask
import numpy as np

from evo.backends.base import Evaluation, TaskRun, assemble, make_chunks, plan_chunks
from evo.backends.scheduling import GenerationRun, generation_bases
from evo.config import BackendConfig
from evo.errors import ConfigError, WorkersLostError
from evo.evaluation import Problem, evaluate_chunk
from evo.interrupts import deferred
from evo.population import Population

PROBATION = 5  # batches a straggling worker is first left out for (then 10, 20, ...)
MMAP_THRESHOLD = 32 * 2**20  # bytes: larger allocations in workers are mmapped
LOG_LENGTH = 20  # messages each Dask comm keeps for debugging (Dask's default: 1000)
ADDRESS = re.compile(r"^[a-z+]+://\S+:\d+$")

__all__ = [
    "DaskBackend",
    "describe_client",
    "generation_bases",
    "resolve_address",
    "start_client",
]


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


def start_client(config: BackendConfig, scheduler: str | None = None) -> tuple[Any, Any]:
    """A client of the scheduler at :func:`resolve_address`, or of a new embedded
    LocalCluster (``config.workers`` worker processes): ``(client, cluster or None)``.
    An address that is malformed or unreachable raises :class:`ConfigError`."""
    from distributed import Client, LocalCluster
    from distributed.comm.core import CommClosedError

    from evo.backends.security import make_security, tls_mismatch

    # Dask keeps each comm's last N messages (N = 1000 by default) for debugging, our
    # base vectors included: over a long run with a big network that is hundreds of MB
    # in this process. Keep a few.
    dask.config.set({"distributed.admin.low-level-log-length": LOG_LENGTH})
    # Dask starts worker processes with MALLOC_TRIM_THRESHOLD_ set, which also pins glibc's
    # mmap threshold at 128 kB: every larger temporary array (a batch's activations) is
    # then fresh pages from the kernel, faulted in and zeroed. The gradient of a 4,096-
    # example shard of the wide spiral net took 0.64 s in a worker against 0.37 s in
    # process; with the threshold at 32 MB, 0.39 s. Workers of an embedded cluster get it.
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})
    security = make_security(config.security)
    if address := resolve_address(config, scheduler):
        if not ADDRESS.match(address):
            raise ConfigError(
                f"backend.scheduler: expected an address like tcp://HOST:PORT, found {address!r}"
            )
        if problem := tls_mismatch(address, config.security):
            raise ConfigError(problem)
        try:
            return Client(address, timeout=config.connect_timeout_s, security=security), None
        except (OSError, TimeoutError, ValueError) as exc:
            hint = ""
            if isinstance(exc, CommClosedError) and security is None:
                hint = " (a TLS scheduler? use its tls:// address and backend.security)"
            raise ConfigError(
                f"backend.scheduler: cannot reach a Dask scheduler at {address!r}: {exc}{hint}"
            ) from None
    workers = config.workers or os.cpu_count() or 1
    with _workers_ignore_sigint():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            protocol="tls://" if security is not None else None,
            security=security,
        )
    try:
        client = Client(cluster)
        client.wait_for_workers(workers)
        return client, cluster
    except BaseException:
        cluster.close()
        raise


def describe_client(client: Any, cluster: Any = None) -> str:
    """One line for the console: where the scheduler (and an embedded cluster's dashboard) is."""
    with deferred():
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
    kind = "embedded LocalCluster" if cluster is not None else "scheduler"
    dashboard = client.dashboard_link if cluster is not None else None
    text = f"dask backend: {kind} at {client.scheduler.address}, {workers} workers"
    return f"{text}, dashboard {dashboard}" if dashboard else text


class _SchedulerEvents:
    """The scheduler's "all" event topic of one client, fanned out to every backend on it.

    Dask keeps one handler per topic and client: backends sharing a client (the
    experiments of a sweep) would replace each other's handler, and the first to
    close would unsubscribe them all. So each client gets one subscription, held
    while any backend listens.
    """

    _lock = threading.Lock()
    _by_client: dict[int, _SchedulerEvents] = {}  # noqa: RUF012  (shared on purpose)

    def __init__(self, client: Any) -> None:
        self.client = client
        self.handlers: tuple[Callable[[Any], None], ...] = ()

    def __call__(self, event: Any) -> None:
        for handler in self.handlers:  # runs on the client's event loop
            handler(event)

    @classmethod
    def add(cls, client: Any, handler: Callable[[Any], None]) -> None:
        """Pass the client's scheduler events to ``handler`` too."""
        with cls._lock:
            events = cls._by_client.get(id(client))
            if events is None or events.client is not client:
                events = cls._by_client[id(client)] = cls(client)
            events.handlers = (*events.handlers, handler)
            if len(events.handlers) == 1:
                client.subscribe_topic("all", events)

    @classmethod
    def remove(cls, client: Any, handler: Callable[[Any], None]) -> None:
        """Stop passing events to ``handler``; the last one out unsubscribes."""
        with cls._lock:
            events = cls._by_client.get(id(client))
            if events is None or events.client is not client:
                return
            events.handlers = tuple(h for h in events.handlers if h != handler)
            if not events.handlers:
                del cls._by_client[id(client)]
                client.unsubscribe_topic("all")

    @classmethod
    def listeners(cls, client: Any) -> int:
        """How many backends use ``client`` now."""
        with cls._lock:
            events = cls._by_client.get(id(client))
            return len(events.handlers) if events is not None and events.client is client else 0


class DaskBackend:
    """Farms chunks of members to Dask workers (several may share one client)."""

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
                    self.client, self.cluster = start_client(config, scheduler)
        except BaseException:
            self.close()  # an interrupt during start-up must not leave the cluster running
            raise
        self._workerless_since: float | None = None
        self._episode_s: float | None = None  # measured CPU-seconds per episode, for chunking
        # Workers that held straggling tasks -> (the batch they may work again from, how
        # often they straggled): left out for PROBATION batches, doubled at each repeat, so
        # a hung worker costs little while a worker that was only slow for a moment (a
        # busy shared machine) comes back.
        self._suspects: dict[str, tuple[int, int]] = {}
        self._batches = 0  # batches of tasks run (generations, rounds, their steps)
        self._transfer: dict[str, int] = {}  # worker -> its Dask outgoing-bytes counter
        self._lock = threading.Lock()
        self._cluster_events: list[dict[str, Any]] = []  # workers joining and leaving
        self._threads: dict[str, int] | None = None  # worker -> threads; None: ask the scheduler
        self._departed: set[str] = set()  # workers that have left since the start
        # All of a run's tasks in one Dask span: otherwise the scheduler opens a new
        # "default" span each time the cluster goes idle (every generation) and keeps
        # them all, and the orchestrator's memory grows with the run (+40% over 1000
        # generations with the embedded cluster, whose scheduler lives in this process).
        self._annotations = {"span": {"name": ("evo",), "ids": (str(uuid.uuid4()),)}}
        with deferred():
            _SchedulerEvents.add(self.client, self._on_scheduler_event)
        self._sent = self._sent_bytes()

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
        return describe_client(self.client, self.cluster)

    def _on_scheduler_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """Scheduler events (runs on the client's event loop): keep worker joins and losses."""
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if not isinstance(message, dict):
            return
        action = message.get("action")
        if action == "add-worker":
            record = {"event": "worker_joined", "worker": message.get("worker")}
        elif action == "remove-worker":
            rerun = [*message.get("processing-tasks", ()), *message.get("lost-computed-tasks", ())]
            record = {
                "event": "worker_left",
                "worker": message.get("worker"),
                "expected": bool(message.get("expected")),  # retired, not lost
                "tasks_to_rerun": len(rerun),
            }
        else:
            return
        with self._lock:
            self._cluster_events.append(record)
            self._threads = None
            if record["event"] == "worker_left":
                self._departed.add(record["worker"])

    def _sharers(self) -> int:
        """Backends using this client now, this one included."""
        return max(1, _SchedulerEvents.listeners(self.client))

    def _sent_bytes(self) -> int | None:
        """Dask's own count of bytes this client has sent to the scheduler (None while
        other backends share the client: their traffic is in it too)."""
        if self._sharers() > 1:
            return None
        count = getattr(getattr(self.client, "scheduler_comm", None), "byte_count", None)
        return count if isinstance(count, int) else None

    def _departed_workers(self) -> set[str]:
        with self._lock:
            return set(self._departed)

    def _take_cluster_events(self) -> list[dict[str, Any]]:
        with self._lock:
            events, self._cluster_events = self._cluster_events, []
        return events

    def _healthy_workers(self) -> tuple[list[str] | None, list[str]]:
        """Workers to use (None: all), leaving out hung ones, and each one's address once per
        thread it has."""
        with self._lock:
            info = self._threads
        if info is None:  # the first generation, or workers came or went since the last
            with deferred():
                workers = self.client.scheduler_info(n_workers=-1)["workers"]
            info = {a: w.get("nthreads", 1) for a, w in workers.items()}
            with self._lock:
                self._threads = info
        # a suspect that left (or was removed) is forgotten
        self._suspects = {a: v for a, v in self._suspects.items() if a in info}
        excluded = {a for a, (until, _) in self._suspects.items() if until > self._batches}
        healthy = {a: n for a, n in info.items() if a not in excluded}
        if not healthy:  # every worker is suspect: trust them all again
            self._suspects.clear()
            healthy = info
        slots = [a for a in sorted(healthy) for _ in range(healthy[a])]
        return (None if len(healthy) == len(info) else sorted(healthy)), slots

    def evaluate(
        self, population: Population, episode_seeds: np.ndarray, generation: int
    ) -> Evaluation:
        """Fitness of every member, in member order."""
        workers, slots = self._healthy_workers()
        episodes = episode_seeds.shape[1]
        work = None if self._episode_s is None else self._episode_s * population.size * episodes
        plan = plan_chunks(
            population.members, self.config.chunk_size, len(slots), work, self.problem.vectorized
        )
        chunks = make_chunks(population, episode_seeds, plan)
        run = self._run(
            evaluate_chunk, self.problem, population.bases, chunks, generation, workers, slots
        )
        if run.compute_s > 0 and generation >= 0:
            self._episode_s = run.compute_s / (population.size * episodes)
        return assemble(
            population.size,
            run.results,
            workers=run.workers,
            bytes_sent=run.bytes_sent,
            bytes_received=run.bytes_received,
            transfer_bytes=run.transfer_bytes,
            retried=run.retried,
            events=run.events,
        )

    def threads(self) -> int:
        """Worker threads the next tasks can use (hung workers left out)."""
        return len(self._healthy_workers()[1])

    def map(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
    ) -> TaskRun:
        """``function(problem, shared, payload)`` for every payload on the cluster, with
        the same fault handling as a generation; results in payload order."""
        workers, slots = self._healthy_workers()
        return self._run(function, problem, shared, payloads, generation, workers, slots)

    def persist(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
    ) -> list:
        """Futures of ``function(problem, shared, payload)``: their results stay on the
        workers (Dask runs the tasks that take them there, and recomputes a result lost
        with its worker, the task being pure)."""
        workers, _ = self._healthy_workers()
        with deferred(), dask.annotate(**self._annotations):
            return self.client.map(
                function,
                [problem] * len(payloads),
                [shared] * len(payloads),
                payloads,
                pure=False,
                workers=workers,
                allow_other_workers=False,
            )

    def release(self, refs: list) -> None:
        """Drop the futures: the workers free the results."""
        with deferred():
            for future in refs:
                future.release()

    def _run(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
        workers: list[str] | None,
        slots: list[str],
    ) -> TaskRun:
        sharers = self._sharers()
        run = GenerationRun(
            self.client,
            problem,
            shared,
            payloads,
            generation,
            workers=workers,
            workers_count=len(set(slots)),
            threads=len(slots),
            # Experiments sharing the client (a sweep) queue tasks on the same workers: a
            # chunk may wait behind theirs, which is no sign of a hung worker.
            straggler_factor=self.config.straggler_factor * sharers,
            exclusive=sharers == 1,
            watch=self._watch_workers,
            departed=self._departed_workers,
            annotations=self._annotations,
            # The embedded cluster's workers are reachable from here: skip the scheduler hop.
            direct=True if self.cluster is not None else None,
            function=function,
        )
        outcome = run.run()
        self._batches += 1
        for worker in outcome.suspects:
            strikes = self._suspects.get(worker, (0, 0))[1] + 1
            self._suspects[worker] = (self._batches + PROBATION * 2 ** (strikes - 1), strikes)
        results = outcome.results
        sent = self._sent_bytes()
        if sent is not None and self._sent is not None:
            payload_bytes = sent - self._sent  # what Dask wrote on this stream to the scheduler
        else:  # what was serialised for it
            problem_bytes = len(pickle.dumps(problem))
            payload_bytes = sum(len(pickle.dumps(c)) + problem_bytes for c in run.chunks)
            payload_bytes += shared.nbytes * run.bases_submitted
        self._sent = sent
        seconds = [r.seconds for r in results]
        return TaskRun(
            results=results,
            compute_s=sum(seconds),
            longest_task_s=max(seconds, default=0.0),
            workers=len(set(slots)),
            bytes_sent=payload_bytes,
            bytes_received=sum(r.nbytes for r in results),
            transfer_bytes=self._transfer_delta(results),
            retried=outcome.retried,
            events=self._take_cluster_events() + outcome.events,
        )

    def _transfer_delta(self, results: list) -> int:
        """Bytes Dask's workers served (to each other and to this client) since last time,
        from their own counters as the generation's tasks last saw them."""
        seen: dict[str, int] = {}
        for r in results:
            if r.worker:
                seen[r.worker] = max(seen.get(r.worker, 0), r.transfer_total)
        delta = 0
        for worker, total in seen.items():
            before = self._transfer.get(worker, 0)
            delta += total - before if total >= before else total  # a restarted worker
            self._transfer[worker] = total
        return delta

    def close(self) -> None:
        """Close the client and, if this backend started it, the cluster."""
        with deferred():
            if self.client is not None:
                with contextlib.suppress(Exception):
                    _SchedulerEvents.remove(self.client, self._on_scheduler_event)
            if self._owns_client and self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
