"""An embedded cluster coming up in the background while the run goes on, and where
each generation runs once it is up.

An embedded cluster takes a second or two of both cores to start: importing Dask, the
scheduler and its dashboard in this process, the worker processes importing what a task
needs (numpy, gymnasium, the env, numba's compiled kernels). Meanwhile the backend
evaluates in this process, which gives the same numbers (contract 1), and switches to
the workers once every one has joined and run a first task. With
``backend.start_after_s`` the start itself waits until the run has evaluated that long
here: a run shorter than that (CartPole solved in a second) never pays for a cluster.

Once the workers are up, :class:`Venue` keeps a generation in this process while the
cluster's round trip would cost more than the work it spreads (tiny generations of a
cheap env), for the problems evo knows to be safe here (its own envs, functions and
data sets: a user's env that crashes its process must crash a worker, not the run).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from evo.backends.cluster import Connection
from evo.interrupts import poll, received

WAIT_STEP_S = 0.05  # how often a wait for the workers looks for an interrupt
START_SWITCH_INTERVAL_S = 0.0005  # the GIL's switch interval while the workers start


def warm_up(problem: Any) -> None:
    """A worker's first task: receiving ``problem`` imports the modules its tasks need."""
    prepare = getattr(problem, "prepare_worker", None)
    if prepare is not None:
        prepare()


class _KilledWhileStarting(logging.Filter):
    """Drops Dask's log of a worker that failed to start once this process was signalled
    to stop, or closed a cluster whose workers were starting: a terminal's Ctrl-C or a
    SIGTERM to the process group reaches the starting worker processes too (SIGINT is
    blocked in them, SIGTERM is not), a close kills them (:func:`close_cluster`), and Dask
    reports the failed start from its event loop, with tracebacks."""

    closed_starting = False  # a cluster was closed while its workers started

    def filter(self, record: logging.LogRecord) -> bool:
        if "_correct_state" not in record.getMessage():
            return True
        return received() is None and not self.closed_starting


_FILTER = _KilledWhileStarting()


class _ShortSwitches:
    """The GIL's switch interval at ``START_SWITCH_INTERVAL_S`` while any cluster starts.

    The generations here hold the GIL for a whole switch interval (5 ms by default) each
    time a start-up thread (the scheduler's start, then its event loop serving the
    workers' registration) wants it back after a wait: a start beside LunarLander's
    generations took 25-36 s instead of 4.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starting = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._starting == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, START_SWITCH_INTERVAL_S))
            self._starting += 1

    def leave(self) -> None:
        with self._lock:
            self._starting -= 1
            if self._starting == 0:
                sys.setswitchinterval(self._saved)


_SHORT_SWITCHES = _ShortSwitches()


class WorkerStartup:
    """On a thread of its own: opens the embedded cluster (``connect``), waits for its
    workers and warms each. ``begin`` false: not until :meth:`begin`."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        problem: Any,
        timeout: float | None,
        begin: bool = True,
    ) -> None:
        self.ready = threading.Event()  # the workers are warm, or the start failed
        self.opened = threading.Event()  # the connection is made, or its making failed
        self.connection: Connection | None = None
        self.error: BaseException | None = None
        self.times: dict[str, float] = {}  # monotonic: when the start began, opened, ended
        logging.getLogger("tornado.application").addFilter(_FILTER)
        self._thread = threading.Thread(
            target=self._start,
            args=(connect, problem, timeout),
            name="evo-worker-startup",
            daemon=True,
        )
        self._begun = threading.Lock()
        if begin:
            self.begin()

    @property
    def begun(self) -> bool:
        """Whether the start has begun."""
        return self._thread.ident is not None

    def begin(self) -> None:
        """Start the cluster now (once)."""
        with self._begun:
            if not self.begun:
                self.times["begun"] = time.monotonic()
                self._thread.start()

    def _start(
        self, connect: Callable[[], Connection], problem: Any, timeout: float | None
    ) -> None:
        _SHORT_SWITCHES.enter()
        try:
            try:
                self.connection = connection = connect()
            finally:
                self.times["opened"] = time.monotonic()
                self.opened.set()
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
            _SHORT_SWITCHES.leave()
            self.times["ready"] = time.monotonic()
            self.ready.set()

    def wait(self) -> None:
        """Until the workers are ready (or their start failed), interruptibly; begins the
        start if it has not begun."""
        self.begin()
        while not self.ready.wait(WAIT_STEP_S):
            poll()

    def abandon(self) -> None:
        """Before a close of the cluster while its workers start: its logs of their failed
        start are dropped."""
        _FILTER.closed_starting = True

    def stop(self) -> None:
        """After the connection closed: let the thread see it and end."""
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=1.0)


class Venue:
    """Whether a generation runs in this process rather than on the cluster: when, by the
    latest measurements, the work here would end before the cluster's round trip and
    its share of the work would.

    ``work`` is a generation's env steps (its members where it has none); the last
    generation's stands for the next one's (episodes lengthen slowly). From a generation
    in this process: its seconds per unit of work; from one on the cluster: the same from
    its tasks' own seconds, and the overhead (its wall time less the work spread over the
    worker threads; the median of the last few). After ``PROBE_EVERY`` generations here in
    a row the next one goes to the cluster, to measure its overhead again.
    """

    PROBE_EVERY = 16
    KEPT = 3  # cluster overheads the median is taken of
    # A generation's round trip on the embedded cluster before one is measured: the floor
    # of a Dask round of tasks, 11-12 ms on 2 cores.
    PRIOR_OVERHEAD_S = 0.01

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled  # False: always the cluster
        self.rate: float | None = None  # compute seconds per unit of work
        self.overheads: list[float] = []
        self.work: float | None = None  # the last generation's
        self.here_in_a_row = 0

    def here(self, threads: int) -> bool:
        """Whether the next generation is to run in this process."""
        if not self.enabled or self.rate is None or not self.overheads or self.work is None:
            return False
        if self.here_in_a_row >= self.PROBE_EVERY:
            return False
        local = self.rate * self.work
        cluster = statistics.median(self.overheads) + local / max(threads, 1)
        return local < cluster

    def worth_starting(self, threads: int) -> bool:
        """Whether the cluster can pay for itself: the last generation here, spread over
        ``threads`` workers, would save more than a round trip costs. Always true where
        generations are not kept here (a user's env must reach the workers)."""
        if not self.enabled or self.rate is None or self.work is None:
            return True
        return _pays(self.rate * self.work, 1, threads)

    @staticmethod
    def safe(problem: Any) -> bool:
        """Whether ``problem``'s evaluation is evo's own code, safe to run in this process."""
        return bool(getattr(problem, "safe_in_process", False))

    def ran_here(self, seconds: float, evaluation: Any) -> None:
        """A generation (an :class:`~evo.backends.base.Evaluation`) ran here in ``seconds``."""
        self.here_in_a_row += 1
        self._measured(seconds, _work(evaluation))

    def ran_there(self, seconds: float, evaluation: Any, threads: int) -> None:
        """A generation ran on the cluster's ``threads`` in ``seconds``."""
        self.here_in_a_row = 0
        spread = evaluation.compute_s / max(threads, 1)
        self.overheads = [*self.overheads, max(seconds - spread, 0.0)][-self.KEPT :]
        self._measured(evaluation.compute_s, _work(evaluation))

    def _measured(self, seconds: float, work: float) -> None:
        if work > 0 and seconds > 0:
            self.rate, self.work = seconds / work, work


class RoundVenue:
    """Where gradient rounds run: in this process while the workers start and, where
    :class:`Venue` may keep work here, while rounds here are measured to be faster.

    A round is timed from its start to the next one's (the trainer's own step is the
    same wherever the tasks run); the medians of the last ``KEPT`` rounds here and on the
    cluster are compared, the cluster measured first, here next. After ``PROBE_EVERY``
    rounds here in a row the next one goes to the cluster, to measure it again. Rounds
    while the workers start are not measured (the start slows them).

    The batches of tasks a round runs here, and their seconds, tell whether a cluster
    can pay for itself at all (:meth:`worth_starting`): PPO's round is a batch of
    episodes and one per minibatch step, each a round trip on a cluster.
    """

    PROBE_EVERY = 16
    KEPT = 3

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seconds: dict[bool, list[float]] = {True: [], False: []}  # here? -> rounds
        self.here_in_a_row = 0
        self._open: tuple[bool, float] | None = None  # the round under way: (here, since)
        self.clock: Callable[[], float] = time.perf_counter
        self.batches: list[float] = []  # the seconds of each batch of the round here
        self.last: list[float] | None = None  # the last whole round's, here

    def ran_here(self, seconds: float) -> None:
        """A batch of the round's tasks ran here in ``seconds``."""
        self.batches.append(seconds)

    def worth_starting(self, threads: int) -> bool:
        """Whether the last round here, its batches spread over ``threads`` workers, would
        save more than their round trips cost (as :meth:`Venue.worth_starting`)."""
        if not self.enabled or not self.last:
            return True
        return _pays(sum(self.last), len(self.last), threads)

    def begin(self, starting: bool) -> bool:
        """A round begins: whether it runs here (``starting``: the workers are not up)."""
        now = self.clock()
        if self.batches:
            self.last, self.batches = self.batches, []
        if self._open is not None:
            here, since = self._open
            self.seconds[here] = [*self.seconds[here], now - since][-self.KEPT :]
        here = starting or self._here()
        self.here_in_a_row = self.here_in_a_row + 1 if here and not starting else 0
        self._open = None if starting else (here, now)
        return here

    def _here(self) -> bool:
        here, there = self.seconds[True], self.seconds[False]
        if not self.enabled or not there or self.here_in_a_row >= self.PROBE_EVERY:
            return False
        return not here or statistics.median(here) < statistics.median(there)


def _pays(seconds: float, batches: int, threads: int) -> bool:
    """Whether ``seconds`` of work here, spread over ``threads`` workers in ``batches``
    round trips, would save more than the round trips cost."""
    return seconds * (1 - 1 / max(threads, 1)) > batches * Venue.PRIOR_OVERHEAD_S


def _work(evaluation: Any) -> float:
    """A generation's work: its env steps, or its members where it has none."""
    steps = float(evaluation.steps.sum())
    return steps if steps > 0 else float(evaluation.fitness.size)
