"""The one owner of the Dask client: an embedded LocalCluster, a scheduler address, or a
client or cluster made elsewhere (dask-jobqueue, dask-kubernetes, ...).

A :class:`Connection` is opened once per run (or per sweep, shared by its runs)
and knows what it must close: a client it made, and an embedded cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evo.backends.address import check_address
from evo.backends.compat import check_workers
from evo.backends.local_cluster import embedded_cluster
from evo.config import BackendConfig
from evo.errors import ConfigError, SchedulerLostError
from evo.interrupts import deferred

MMAP_THRESHOLD = 32 * 2**20  # bytes: larger allocations in workers are mmapped
LOG_LENGTH = 20  # messages each Dask comm keeps for debugging (Dask's default: 1000)


class _SpawnBlocksSigint:
    """While an embedded cluster is open, processes that ``multiprocessing`` spawns (Dask's
    worker processes, also those a nanny restarts) start with SIGINT blocked.

    A terminal's Ctrl-C goes to the whole process group: the workers must not die
    of it, the orchestrator must see it and close the cluster in order. Blocking
    the signal in the spawning thread just around the fork-and-exec gives the
    child a mask in which SIGINT stays blocked (the mask survives ``exec``), while
    this process keeps its own handler throughout, so no Ctrl-C is ever lost.
    (Ignoring SIGINT here while the workers start, as a child would inherit it,
    dropped any Ctrl-C of those seconds.)
    """

    _lock = threading.Lock()
    _users = 0
    _original: Callable[..., int] | None = None

    @classmethod
    def _spawn(cls, *args: Any, **kwargs: Any) -> int:
        assert cls._original is not None
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return cls._original(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    @classmethod
    def acquire(cls) -> None:
        """Start blocking (for one more open cluster)."""
        import multiprocessing.util

        with cls._lock:
            if cls._users == 0:
                cls._original = multiprocessing.util.spawnv_passfds
                multiprocessing.util.spawnv_passfds = cls._spawn
            cls._users += 1

    @classmethod
    def release(cls) -> None:
        """Stop blocking once no open cluster needs it."""
        import multiprocessing.util

        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._original is not None:
                multiprocessing.util.spawnv_passfds = cls._original
                cls._original = None


def start_client(
    config: BackendConfig, scheduler: str | None = None, *, wait: bool = True
) -> tuple[Any, Any]:
    """A client of the scheduler at :func:`check_address`, or of a new embedded
    LocalCluster (``config.workers`` worker processes): ``(client, cluster or None)``.
    An address that is malformed or unreachable raises :class:`ConfigError`. Without
    ``wait``, an embedded cluster's workers are still starting when this returns (its
    scheduler and dashboard are up): :func:`embedded_workers` says how many to wait for."""
    import dask
    from distributed import Client
    from distributed.comm.core import CommClosedError

    from evo.backends.security import embedded_security, make_security

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
    if checked := check_address(config, scheduler):
        address, source = checked
        try:
            client = Client(address, timeout=config.connect_timeout_s, security=security)
        except (OSError, TimeoutError, ValueError) as exc:
            hint = ""
            if isinstance(exc, CommClosedError) and security is None:
                hint = " (a TLS scheduler? use its tls:// address and backend.security)"
            raise ConfigError(
                f"{source}: cannot reach a Dask scheduler at {address!r}: {exc}{hint}"
            ) from None
        try:
            check_workers(client)
        except BaseException:
            client.close()
            raise
        return client, None
    workers = config.workers or os.cpu_count() or 1
    security = embedded_security(config)
    _SpawnBlocksSigint.acquire()
    try:
        # The scheduler first, the workers after: their processes start in the background
        # while this process goes on (the first generations can be evaluated here).
        cluster = embedded_cluster(
            n_workers=0,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            protocol="tls://" if security is not None else None,
            security=security,
        )
    except BaseException:
        _SpawnBlocksSigint.release()
        raise
    try:
        client = Client(cluster)
        from evo.backends.worker_logs import QuietShutdown

        client.register_plugin(QuietShutdown())
        cluster.scale(workers)
        if wait:
            client.wait_for_workers(workers)
        return client, cluster
    except BaseException:
        close_cluster(cluster)
        raise


def embedded_workers(cluster: Any) -> int:
    """The worker processes an embedded cluster :func:`start_client` made is to have."""
    return len(getattr(cluster, "worker_spec", {}))


def close_cluster(cluster: Any, starting: bool = False) -> None:
    """Close an embedded cluster :func:`start_client` made. ``starting``: its workers
    may still be starting, and are killed first (a nanny closes a worker process only
    once it has started: seconds of imports, for a worker that never ran a task)."""
    try:
        if starting:
            for pid in _worker_pids(cluster):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        cluster.close()
    finally:
        _SpawnBlocksSigint.release()


def _worker_pids(cluster: Any) -> list[int]:
    """The process ids of an embedded cluster's worker processes (those spawned yet)."""
    pids = []
    # a SpecCluster holds a worker in ``workers`` once started, in ``_created`` from the start
    nannies = {*getattr(cluster, "_created", ()), *getattr(cluster, "workers", {}).values()}
    for nanny in nannies:
        process = getattr(getattr(nanny, "process", None), "process", None)
        pid = getattr(process, "pid", None)
        if isinstance(pid, int) and pid > 0:
            pids.append(pid)
    return pids


def describe_client(client: Any, cluster: Any = None) -> str:
    """One line for the console: where the scheduler (and an embedded cluster's dashboard) is."""
    with deferred():
        info = client.scheduler_info(n_workers=-1)
    workers = len(info["workers"])
    kind = "embedded LocalCluster" if cluster is not None else "scheduler"
    dashboard = client.dashboard_link if cluster is not None else _dashboard(client, info)
    count = f"{workers} workers"
    if cluster is not None and workers < embedded_workers(cluster):
        count = f"{embedded_workers(cluster)} workers (starting)"
    text = f"dask backend: {kind} at {client.scheduler.address}, {count}"
    return f"{text}, dashboard {dashboard}" if dashboard else text


def _dashboard(client: Any, info: dict[str, Any]) -> str | None:
    """The status page of a scheduler evo did not start (a sweep's shared cluster, or
    ``--scheduler``), if it serves a dashboard: on the scheduler's host."""
    port = info.get("services", {}).get("dashboard")
    address = str(client.scheduler.address)
    if not isinstance(port, int) or "://" not in address or address.startswith("inproc"):
        return None
    host = address.split("://", 1)[1].rsplit(":", 1)[0]
    return f"http://{host}:{port}/status"


class SchedulerEvents:
    """The scheduler's "all" event topic of one client, fanned out to every backend on it.

    Dask keeps one handler per topic and client: backends sharing a client (the
    experiments of a sweep) would replace each other's handler, and the first to
    close would unsubscribe them all. So each client gets one subscription, held
    while any backend listens.
    """

    _lock = threading.Lock()
    _by_client: dict[int, SchedulerEvents] = {}  # noqa: RUF012  (shared on purpose)

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


@dataclass
class Connection:
    """A Dask client, the embedded cluster behind it (if any) and whether it is ours."""

    client: Any
    cluster: Any = None  # an embedded LocalCluster this connection started, or one given
    owns_client: bool = True
    owns_cluster: bool = True

    @classmethod
    def open(
        cls,
        config: BackendConfig,
        scheduler: str | None = None,
        *,
        client: Any = None,
        cluster: Any = None,
        wait: bool = True,
    ) -> Connection:
        """Wrap a given client or cluster, else connect to :func:`check_address` or start
        an embedded cluster (``config.workers`` worker processes; without ``wait``, still
        starting on return: :meth:`wait_for_workers`). The workers of a cluster not
        started here must be able to run evo's tasks
        (:func:`~evo.backends.compat.check_workers`)."""
        if client is not None:
            check_workers(client)
            return cls(client, None, owns_client=False, owns_cluster=False)
        with deferred():
            if cluster is not None:
                from distributed import Client

                connection = cls(Client(cluster), None, owns_client=True, owns_cluster=False)
                try:
                    check_workers(connection.client)
                except BaseException:
                    connection.close()
                    raise
                return connection
            made, embedded = start_client(config, scheduler, wait=wait)
        return cls(made, embedded)

    def wait_for_workers(self, timeout: float | None = None) -> None:
        """Until an embedded cluster's workers have all joined (at once if none is ours);
        TimeoutError after ``timeout`` seconds."""
        if self.owns_cluster and self.cluster is not None:
            self.client.wait_for_workers(embedded_workers(self.cluster), timeout=timeout)

    def size(self) -> tuple[int, int]:
        """(workers, worker threads) the scheduler knows now: one round trip."""
        info = self.workers_info()
        return len(info), sum(worker.get("nthreads", 1) for worker in info.values())

    def workers_info(self) -> dict[str, Any]:
        """The scheduler's record of each worker, by address; :class:`SchedulerLostError`
        once the scheduler is gone (the client gave up reconnecting, or it answers no
        more)."""
        import asyncio  # here: a run that starts no cluster does not import it (~11 ms)

        self.check_alive()
        try:
            with deferred():
                info = self.client.scheduler_info(n_workers=-1)
            return dict(info["workers"])
        except (KeyError, OSError, TimeoutError, asyncio.CancelledError) as exc:
            self.check_alive()
            raise SchedulerLostError(f"the Dask scheduler does not answer: {exc!r}") from None

    def check_alive(self) -> None:
        """:class:`SchedulerLostError` if the client has closed for good (Dask closes it
        when the scheduler stays unreachable for ``distributed.comm.timeouts.connect``)."""
        status = getattr(self.client, "status", "running")
        if status in ("closed", "closing"):
            address = getattr(getattr(self.client, "scheduler", None), "address", "?")
            raise SchedulerLostError(f"the Dask scheduler at {address} is gone")

    def describe(self) -> str:
        """One line for the console: where the scheduler (and its dashboard) is."""
        return describe_client(self.client, self.cluster)

    def close(self, starting: bool = False) -> None:
        """Close what this connection made: its client, its embedded cluster (``starting``:
        whose workers may still be starting, see :func:`close_cluster`)."""
        with deferred():
            if self.owns_client and self.client is not None:
                self.client.close()
            if self.owns_cluster and self.cluster is not None:
                close_cluster(self.cluster, starting)
