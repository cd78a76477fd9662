"""The callback protocol: what a run tells the reporters, loggers and your own code.

Subclass :class:`Callback` and override what you need; pass instances to
``evo.run(config, callbacks=[...])``. Callbacks run in the orchestrator, between
generations: what they take is the loop's time, and what they raise stops the run.

The loggers a config's ``logging`` section switches on (TensorBoard, MLflow) are
callbacks too; they register here under their key (see :func:`register_logger`), so
that the run can build them from the config without knowing them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from evo.config import ExperimentConfig


class Callback:
    """Hooks of a run; each does nothing unless overridden."""

    def on_start(self, config: ExperimentConfig, generations: int) -> None:
        """Before the first generation: the resolved config and the most the loop runs."""

    def on_generation(self, record: dict[str, Any]) -> None:
        """After each generation (or round): its ``metrics.jsonl`` line."""

    def on_checkpoint(self, generation: int, path: Path) -> None:
        """A checkpoint after ``generation`` generations was written to ``path``."""

    def on_stop(self, summary: dict[str, Any]) -> None:
        """The run finished: its ``summary.json``."""

    def on_close(self, error: BaseException | None) -> None:
        """The run is over, finished (``error`` None, after ``on_stop``) or not (the
        exception that ended it: an interrupt, a failed evaluation, lost workers)."""


class CallbackList(Callback):
    """Several callbacks, called in order."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_start(self, config: ExperimentConfig, generations: int) -> None:
        """Each callback's ``on_start``."""
        for callback in self.callbacks:
            callback.on_start(config, generations)

    def on_generation(self, record: dict[str, Any]) -> None:
        """Each callback's ``on_generation``."""
        for callback in self.callbacks:
            callback.on_generation(record)

    def on_checkpoint(self, generation: int, path: Path) -> None:
        """Each callback's ``on_checkpoint``."""
        for callback in self.callbacks:
            callback.on_checkpoint(generation, path)

    def on_stop(self, summary: dict[str, Any]) -> None:
        """Each callback's ``on_stop``."""
        for callback in self.callbacks:
            callback.on_stop(summary)

    def on_close(self, error: BaseException | None) -> None:
        """Each callback's ``on_close``, every one even if one raises (the first error
        raised is raised after the others were closed)."""
        failure: BaseException | None = None
        for callback in self.callbacks:
            try:
                callback.on_close(error)
            except Exception as exc:
                failure = failure or exc
        if failure is not None and error is None:
            raise failure


@contextlib.contextmanager
def closing(callback: Callback) -> Iterator[None]:
    """Around a run: ``callback.on_close`` with the exception that ended it, or None."""
    try:
        yield
    except BaseException as exc:
        callback.on_close(exc)
        raise
    callback.on_close(None)


class LoggerFactory(Protocol):
    """A logger a config key switches on: checked before the run folder exists, then
    opened on the folder (``resumed_after``: the generations a resumed run keeps)."""

    def check(self, config: ExperimentConfig) -> None:
        """Raise :class:`~evo.errors.ConfigError` when the logger cannot log (a missing
        package, an unreachable server): nothing is written yet."""

    def open(self, config: ExperimentConfig, run_dir: Path, resumed_after: int | None) -> Callback:
        """The logger of the run in ``run_dir``."""


# ``logging.<key>`` -> its logger, filled by evo.loggers as it is imported (importing evo
# imports it).
LOGGERS: dict[str, LoggerFactory] = {}


def register_logger(key: str, factory: LoggerFactory) -> None:
    """Make ``logging.<key>: true`` switch ``factory``'s logger on."""
    LOGGERS[key] = factory


def configured_loggers(config: ExperimentConfig) -> list[LoggerFactory]:
    """The loggers ``config.logging`` switches on, each checked."""
    chosen = [LOGGERS[key] for key in LOGGERS if getattr(config.logging, key, False)]
    for factory in chosen:
        factory.check(config)
    return chosen
