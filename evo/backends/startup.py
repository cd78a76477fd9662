"""An embedded cluster's workers coming up in the background while the run goes on.

The embedded cluster's scheduler is up at once; its worker processes take a second
or two to start and to import what a task needs (numpy, gymnasium, the env, numba's
compiled kernels). Meanwhile the backend evaluates in this process, which gives the
same numbers (contract 1), and switches to the workers once every one has joined
and run a first task.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from evo.backends.cluster import Connection
from evo.interrupts import poll, received

WAIT_STEP_S = 0.05  # how often a wait for the workers looks for an interrupt
REGISTERING_S = 5.0  # at most this long a close waits for registering workers to be known


def warm_up(problem: Any) -> None:
    """A worker's first task: receiving ``problem`` imports the modules its tasks need."""
    prepare = getattr(problem, "prepare_worker", None)
    if prepare is not None:
        prepare()


class _KilledWhileStarting(logging.Filter):
    """Drops Dask's log of a worker that failed to start once this process was signalled
    to stop: a terminal's Ctrl-C or a SIGTERM to the process group reaches the starting
    worker processes too (SIGINT is blocked in them, SIGTERM is not), and Dask reports
    the failed start from its event loop, with tracebacks, while evo closes the cluster."""

    def filter(self, record: logging.LogRecord) -> bool:
        return received() is None or "_correct_state" not in record.getMessage()


_FILTER = _KilledWhileStarting()


class WorkerStartup:
    """Waits, on a thread of its own, for the embedded cluster's workers and warms each."""

    def __init__(self, connection: Connection, problem: Any, timeout: float | None) -> None:
        self.ready = threading.Event()
        self.error: BaseException | None = None
        logging.getLogger("tornado.application").addFilter(_FILTER)
        self._thread = threading.Thread(
            target=self._start,
            args=(connection, problem, timeout),
            name="evo-worker-startup",
            daemon=True,
        )
        self._thread.start()

    def _start(self, connection: Connection, problem: Any, timeout: float | None) -> None:
        try:
            connection.wait_for_workers(timeout)
            client = connection.client
            workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
            futures = [
                client.submit(warm_up, problem, workers=[w], pure=False, allow_other_workers=True)
                for w in workers
            ]
            client.gather(futures)
        except BaseException as exc:  # the Dask path meets (and reports) what went wrong
            self.error = exc
        finally:
            self.ready.set()

    def wait(self) -> None:
        """Until the workers are ready (or their start failed), interruptibly."""
        while not self.ready.wait(WAIT_STEP_S):
            poll()

    def let_registering_workers_join(
        self, client: Any, cluster: Any, timeout: float = REGISTERING_S
    ) -> None:
        """Before a close: until ``cluster`` has heard of every worker its scheduler has (at
        most ``timeout``). A worker closed while it registers can be reported removed to
        the cluster before it was reported added, and the cluster's close then fails (a
        KeyError in Dask's ``_update_worker_status``). A worker that died starting (a
        SIGTERM to the process group) leaves the scheduler and is not waited for."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = set(client.scheduler_info(n_workers=-1)["workers"])
            if known <= set(cluster.scheduler_info.get("workers", {})):
                return
            time.sleep(WAIT_STEP_S / 2)

    def stop(self) -> None:
        """After the connection closed: let the thread see it and end."""
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=1.0)
