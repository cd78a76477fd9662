"""The callback protocol: what a run tells the reporters, loggers and your own code.

Subclass :class:`Callback` and override what you need; pass instances to
``evo.run(config, callbacks=[...])``. Callbacks run in the orchestrator, between
generations: what they take is the loop's time, and what they raise stops the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
