"""Ctrl-C and SIGTERM that never land inside a Dask call.

distributed's blocking calls bridge to its event loop; interrupted half-way,
they log tracebacks from that loop. While evo is inside such a call
(:func:`deferred`), SIGINT and SIGTERM only set a flag, and KeyboardInterrupt is
raised as the call returns. Everywhere else (waiting for results, serial
evaluation) they raise at once. Handlers are installed by the command line;
Python callers keep their own signal handling.

Signals reach only the main thread. Experiments run in other threads (a
sweep) are stopped through a :class:`StopRequest`: the thread running one
enters :func:`stoppable`, and the loops that wait for results call
:func:`poll`, which raises KeyboardInterrupt there once the stop is requested.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_depth = 0  # nesting of the main thread's deferred sections (signal handlers run there)
_pending: int | None = None  # the signal that arrived inside a deferred section
_local = threading.local()  # .stop: the StopRequest of the experiment this thread runs
_received: int | None = None  # the last SIGINT or SIGTERM the handlers saw


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that knows which signal raised it (SIGINT or SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def exit_status(exc: BaseException) -> int:
    """The shell's status for a process ended by the signal behind ``exc``: 128 + signal
    (130 for Ctrl-C and any other KeyboardInterrupt, 143 for SIGTERM)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _handler(signum: int, frame: object) -> None:
    global _pending, _received
    _received = signum
    if _depth > 0:
        _pending = signum
        return
    raise Interrupted(signum)


def received() -> int | None:
    """The signal (SIGINT or SIGTERM) that asked this process to stop, if one has."""
    return _received


def install() -> None:
    """Route SIGINT and SIGTERM through the deferral (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section in which an interrupt waits until the section ends.

    Only the main thread's sections count: a signal never interrupts another
    thread, and another thread's Dask call must not hold back the main thread's
    interrupt.
    """
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


class StopRequest:
    """Asks the threads that entered :func:`stoppable` with it to stop, like Ctrl-C would."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Request the stop: each thread raises KeyboardInterrupt at its next :func:`poll`."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the stop has been requested."""
        return self._event.is_set()


@contextlib.contextmanager
def stoppable(request: StopRequest) -> Iterator[None]:
    """Run the enclosed experiment so that ``request`` can stop it (this thread only)."""
    previous = getattr(_local, "stop", None)
    _local.stop = request
    try:
        poll()
        yield
    finally:
        _local.stop = previous


def poll() -> None:
    """Raise KeyboardInterrupt if this thread's experiment has been asked to stop."""
    request = getattr(_local, "stop", None)
    if request is not None and request.is_set():
        raise KeyboardInterrupt
