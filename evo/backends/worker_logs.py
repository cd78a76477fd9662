"""Quiet a worker's own shutdown: what an embedded cluster's workers log reaches the
orchestrator's stderr, since they share it."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin

HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"
DONE = (Status.closing, Status.closing_gracefully, Status.closed, Status.failed)


class ClosingNoise(logging.Filter):
    """Drops a worker's heartbeat failure while that worker is itself closing.

    When a cluster closes, a worker can be mid-heartbeat as it shuts its own
    connection pool; Dask then logs the cancelled heartbeat at ERROR with three
    chained tracebacks, after the run's results are written. A heartbeat failure
    of a running worker still gets through.
    """

    def __init__(self, closing: Callable[[], bool]) -> None:
        super().__init__()
        self.closing = closing

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith(HEARTBEAT_FAILED) and self.closing())


class QuietShutdown(WorkerPlugin):
    """Installs :class:`ClosingNoise` on the logger of each worker it is registered on, and
    ends the worker's process as soon as the worker has closed.

    By the time a worker removes its plugins it has told the scheduler it is closing
    and holds nothing anyone needs; what is left is Python's own finalisation of the
    modules a task imported (numba, scipy, gymnasium), which took 1.4-1.8 s of an
    embedded cluster's close, against 0.05-0.1 s with the process ended here.
    """

    name = "evo-quiet-shutdown"
    idempotent = True

    def setup(self, worker: Any) -> None:
        logger = logging.getLogger("distributed.worker")
        logger.addFilter(ClosingNoise(lambda: worker.status in DONE))

    def teardown(self, worker: Any) -> None:
        if worker.status not in DONE:  # the plugin removed from a running worker: stay
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(0)
