"""What the scheduler reports of workers joining and leaving, kept for a run's events;
the bytes the workers served; how long the cluster has had no worker.

The scheduler's events arrive on the client's event loop; the run reads them between
generations. Each generation's :class:`~evo.backends.base.Evaluation` carries the ones
that happened since the last, and a worker's departure invalidates what the backend
knows of the workers' threads.
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

from evo.errors import WorkersLostError


class ClusterLog:
    """Workers joining and leaving, the workers' threads as last asked, who has left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._threads: dict[str, int] | None = None  # worker -> threads; None: ask again
        self._departed: set[str] = set()  # workers that have left since the start

    def on_scheduler_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """A scheduler event (runs on the client's event loop): keeps worker joins and
        losses."""
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
            self._events.append(record)
            self._threads = None
            if record["event"] == "worker_left":
                self._departed.add(record["worker"])

    def add(self, events: list[dict[str, Any]]) -> None:
        """Events of the backend's own, to go out with the next generation."""
        with self._lock:
            self._events.extend(events)

    def take(self) -> list[dict[str, Any]]:
        """The events since the last call."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def forget_joins(self) -> None:
        """Drop the joins so far (an embedded cluster's workers coming up are not news)."""
        with self._lock:
            self._events = [e for e in self._events if e["event"] != "worker_joined"]

    def departed(self) -> set[str]:
        """The workers that have left since the start."""
        with self._lock:
            return set(self._departed)

    @property
    def threads(self) -> dict[str, int] | None:
        """Each worker's threads as last asked (None: workers came or went since)."""
        with self._lock:
            return self._threads

    @threads.setter
    def threads(self, info: dict[str, int]) -> None:
        with self._lock:
            self._threads = info


class TransferCount:
    """Bytes Dask's workers served (to each other and to this client), from their own
    counters as a generation's tasks last saw them."""

    def __init__(self) -> None:
        self._totals: dict[str, int] = {}  # worker -> its Dask outgoing-bytes counter

    def since_last(self, results: list) -> int:
        """The bytes served since the last call, by the workers of ``results``."""
        seen: dict[str, int] = {}
        for r in results:
            if r.worker:
                seen[r.worker] = max(seen.get(r.worker, 0), r.transfer_total)
        delta = 0
        for worker, total in seen.items():
            before = self._totals.get(worker, 0)
            delta += total - before if total >= before else total  # a restarted worker
            self._totals[worker] = total
        return delta


class SentCount:
    """Bytes a backend's batches of tasks sent: Dask's own count of what the client wrote
    to the scheduler since the last batch or, while other backends share the client (their
    traffic is in that count too), what was serialised for the batch."""

    def __init__(self) -> None:
        self._last: int | None = None

    def start(self, client: Any, sharers: int) -> None:
        """Count from now on."""
        self._last = _written(client, sharers)

    def since_last(self, client: Any, sharers: int, batch: Any, problem: Any) -> int:
        """The bytes of ``batch`` (a :class:`~evo.backends.scheduling.GenerationRun`)."""
        written = _written(client, sharers)
        if written is not None and self._last is not None:
            sent = written - self._last
        else:
            problem_bytes = len(pickle.dumps(problem))
            sent = sum(len(pickle.dumps(c)) + problem_bytes for c in batch.chunks)
            sent += batch.bases.nbytes * batch.bases_submitted
        self._last = written
        return sent


def _written(client: Any, sharers: int) -> int | None:
    if sharers > 1:
        return None
    count = getattr(getattr(client, "scheduler_comm", None), "byte_count", None)
    return count if isinstance(count, int) else None


class Workerless:
    """How long the cluster has had no worker: past ``timeout_s``, the run stops."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._since: float | None = None

    def check(self, workers: int) -> None:
        """:class:`WorkersLostError` once there have been no workers for ``timeout_s``."""
        if workers > 0:
            self._since = None
            return
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since > self.timeout_s:
            raise WorkersLostError(
                f"no Dask workers for {self.timeout_s:g} s "
                f"(backend.worker_timeout_s); start workers and run `evo resume`"
            )
