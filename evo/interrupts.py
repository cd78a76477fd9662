"""Ctrl-C and SIGTERM that never land inside a Dask call.

distributed's blocking calls bridge to its event loop; interrupted half-way,
they log tracebacks from that loop. While evo is inside such a call
(:func:`deferred`), SIGINT and SIGTERM only set a flag, and KeyboardInterrupt is
raised as the call returns. Everywhere else (waiting for results, serial
evaluation) they raise at once. Handlers are installed by the command line;
Python callers keep their own signal handling.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_depth = 0  # nesting of deferred sections (signal handlers run on the main thread)
_pending = False


def _handler(signum: int, frame: object) -> None:
    global _pending
    if _depth > 0:
        _pending = True
        return
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT and SIGTERM through the deferral (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section in which an interrupt waits until the section ends."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending:
            _pending = False
            raise KeyboardInterrupt
