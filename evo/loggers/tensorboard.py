"""TensorBoard event files of a run: every metrics column a scalar per generation (tagged
by group, ``fitness/fitness_max``, ``time/evaluate_s``, ...), a histogram of the members'
fitness, the config and summary as text. Written live (``logging.tensorboard: true``, into
``RUN/tensorboard/``) or afterwards (``evo export RUN --tensorboard DIR``), the same way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from evo.callbacks import Callback
from evo.config import ExperimentConfig
from evo.errors import RunFolderError
from evo.loggers.common import SUMMARY_SCALARS, line_times, member_fitness, require, scalars
from evo.runlog import CONFIG, RunFolder, RunRecord

FOLDER = "tensorboard"  # under the run folder
HISTOGRAM = "fitness/members"

_PROGRESS = frozenset({"generation", "evaluations", "episodes", "env_steps", "samples"})
_CLUSTER = frozenset(
    {"tasks", "workers", "bytes_sent", "bytes_received", "transfer_bytes", "retried"}
)


def tag(column: str) -> str:
    """The scalar's tag: the column under its group (TensorBoard's sections)."""
    if column in _PROGRESS:
        group = "progress"
    elif column in _CLUSTER:
        group = "cluster"
    elif column.endswith("_s"):
        group = "time"
    elif column.startswith(("fitness_", "test_", "train_")) or column in (
        "best_so_far",
        "solution_fitness",
    ):
        group = "fitness"
    else:
        group = "training"
    return f"{group}/{column}"


class EventWriter:
    """One run's event files in ``logdir`` (``purge_step``: a resumed run's first step,
    from which TensorBoard drops what an earlier attempt wrote)."""

    def __init__(self, logdir: Path, purge_step: int | None = None) -> None:
        from tensorboardX import SummaryWriter

        self.logdir = logdir
        self.writer = SummaryWriter(logdir=str(logdir), purge_step=purge_step, flush_secs=10)
        self.step = 0

    def config(self, text: str) -> None:
        """The resolved config, as YAML in a text card."""
        body = "\n".join(line for line in text.splitlines() if not line.startswith("# "))
        self.writer.add_text("config", f"```yaml\n{body}\n```", 0)

    def generation(
        self, record: dict[str, Any], fitness: np.ndarray | None, walltime: float | None = None
    ) -> None:
        """A metrics line's scalars and, when known, its members' fitness histogram."""
        step = int(record["generation"])
        self.step = step
        for column, value in scalars(record):
            self.writer.add_scalar(tag(column), value, step, walltime=walltime)
        if fitness is not None and fitness.size:
            self.writer.add_histogram(HISTOGRAM, fitness, step, bins="auto", walltime=walltime)

    def summary(self, summary: dict[str, Any], walltime: float | None = None) -> None:
        """The summary's scores as scalars at the last step, and the whole as text."""
        numbers = dict(scalars(summary))
        for key in SUMMARY_SCALARS:
            if key in numbers:
                self.writer.add_scalar(f"summary/{key}", numbers[key], self.step, walltime=walltime)
        text = json.dumps(summary, indent=2, default=str)
        self.writer.add_text("summary", f"```json\n{text}\n```", self.step, walltime=walltime)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


class TensorBoardLogger(Callback):
    """``logging.tensorboard: true``: the run's event files, written as it goes."""

    def __init__(self, run_dir: Path, resumed_after: int | None) -> None:
        self.folder = RunFolder.open(run_dir)
        logdir = self.folder.path / FOLDER
        # Steps are generations from 1: a run resumed after K generations reruns K + 1 on.
        purge = None if resumed_after is None else resumed_after + 1
        self.events = EventWriter(logdir, purge_step=purge)
        if resumed_after is None:
            self.events.config((self.folder.path / CONFIG).read_text(encoding="utf-8"))
            self.folder.append_event("tensorboard", logdir=str(logdir.resolve()))

    def on_generation(self, record: dict[str, Any]) -> None:
        """The line's scalars and its members' histogram, flushed for a live TensorBoard."""
        self.events.generation(record, member_fitness(self.folder, int(record["generation"])))
        self.events.writer.flush()

    def on_stop(self, summary: dict[str, Any]) -> None:
        """The summary."""
        self.events.summary(summary)

    def on_close(self, error: BaseException | None) -> None:
        """Close the event file."""
        self.events.close()


class TensorBoardFactory:
    """The ``logging.tensorboard`` entry of the logger registry."""

    def check(self, config: ExperimentConfig) -> None:
        """tensorboardX must be installed."""
        require("tensorboardX", "logging.tensorboard", "tensorboard")

    def open(self, config: ExperimentConfig, run_dir: Path, resumed_after: int | None) -> Callback:
        """The run's logger."""
        return TensorBoardLogger(run_dir, resumed_after)


def export_tensorboard(run_dir: str | os.PathLike[str], logdir: str | os.PathLike[str]) -> str:
    """Write a finished (or stopped) run's event files into ``logdir/<run folder name>``;
    the line that says what was written. Refuses a folder that already holds events."""
    require("tensorboardX", "--tensorboard", "tensorboard")
    run = RunRecord.read(run_dir)
    if not run.metrics:
        raise RunFolderError(f"{run.path}: no generations recorded yet")
    check_logdir(logdir, run.path.name)
    target = Path(logdir) / run.path.name
    events = EventWriter(target)
    histograms = 0
    try:
        events.config(run.config_text)
        times = line_times(run)
        for record, walltime in zip(run.metrics, times, strict=True):
            fitness = member_fitness(run.folder, int(record["generation"]))
            histograms += fitness is not None and fitness.size > 0
            events.generation(record, fitness, walltime)
        if run.summary is not None:
            events.summary(run.summary, times[-1])
    finally:
        events.close()
    return (
        f"{target}: TensorBoard events of {len(run.metrics)} generations "
        f"({histograms} fitness histograms); view with: tensorboard --logdir {Path(logdir)}"
    )


def check_logdir(logdir: str | os.PathLike[str], name: str) -> None:
    """``logdir`` must be a folder (or be makeable in one) without events of ``name`` yet."""
    logdir = Path(logdir)
    if logdir.exists() and not logdir.is_dir():
        raise RunFolderError(f"{logdir}: not a folder")
    if not logdir.exists() and not logdir.parent.is_dir():
        raise RunFolderError(f"{logdir}: the folder {logdir.parent} does not exist")
    target = logdir / name
    if target.is_dir() and any(target.glob("events.out.tfevents.*")):
        raise RunFolderError(
            f"{target}: already holds TensorBoard events (remove it, or export to another folder)"
        )
