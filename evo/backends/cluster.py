"""The one owner of the Dask client: an embedded LocalCluster, a scheduler address, or a
client or cluster made elsewhere (dask-jobqueue, dask-kubernetes, ...).

A :class:`Connection` is opened once per run (or per sweep, shared by its runs)
and knows what it must close: a client it made, and an embedded cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dask

from evo.config import BackendConfig
from evo.errors import ConfigError
from evo.interrupts import deferred

MMAP_THRESHOLD = 32 * 2**20  # bytes: larger allocations in workers are mmapped
LOG_LENGTH = 20  # messages each Dask comm keeps for debugging (Dask's default: 1000)
ADDRESS = re.compile(r"^[a-z+]+://\S+:\d+$")


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
        info = client.scheduler_info(n_workers=-1)
    workers = len(info["workers"])
    kind = "embedded LocalCluster" if cluster is not None else "scheduler"
    dashboard = client.dashboard_link if cluster is not None else _dashboard(client, info)
    text = f"dask backend: {kind} at {client.scheduler.address}, {workers} workers"
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
    ) -> Connection:
        """Wrap a given client or cluster, else connect to :func:`resolve_address` or start
        an embedded cluster (``config.workers`` worker processes)."""
        if client is not None:
            return cls(client, None, owns_client=False, owns_cluster=False)
        with deferred():
            if cluster is not None:
                from distributed import Client

                return cls(Client(cluster), None, owns_client=True, owns_cluster=False)
            made, embedded = start_client(config, scheduler)
        return cls(made, embedded)

    def size(self) -> tuple[int, int]:
        """(workers, worker threads) the scheduler knows now: one round trip."""
        with deferred():
            info = self.client.scheduler_info(n_workers=-1)["workers"]
        return len(info), sum(worker.get("nthreads", 1) for worker in info.values())

    def describe(self) -> str:
        """One line for the console: where the scheduler (and its dashboard) is."""
        return describe_client(self.client, self.cluster)

    def close(self) -> None:
        """Close what this connection made: its client, its embedded cluster."""
        with deferred():
            if self.owns_client and self.client is not None:
                self.client.close()
            if self.owns_cluster and self.cluster is not None:
                self.cluster.close()
