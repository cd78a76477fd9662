"""Running a sweep: several runs at once, each in a thread, all on one shared Dask client.

The client is an embedded LocalCluster's, or ``--scheduler``'s. Each generation ends at
a barrier where an experiment's workers wait for its slowest task, and another
experiment's tasks fill them. A run that fails is recorded and the others go on; Ctrl-C
stops them all.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evo import interrupts
from evo.config import BackendConfig, apply_overrides, read_yaml_mapping
from evo.errors import ConfigError, EvoError, RunFolderError
from evo.reporting import SweepReporter
from evo.runlog import SUMMARY, RunFolder
from evo.sweep.folder import BASE, SWEEP, SweepFolder
from evo.sweep.outcomes import final_score
from evo.sweep.plan import Member, default_seeds, plan


@dataclass(frozen=True)
class SweepResult:
    """Where a sweep was written and how each of its runs ended."""

    path: Path
    runs: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The entries of the runs that failed."""
        return [entry for entry in self.runs if entry["status"] == "failed"]


def run_sweep(
    config_path: str | os.PathLike[str],
    seeds: Sequence[int] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    overrides: Sequence[str] = (),
    runs_dir: str | os.PathLike[str] = "runs",
    *,
    scheduler: str | None = None,
    parallel: int | None = None,
    reporter: SweepReporter | None = None,
) -> SweepResult:
    """Run ``config_path`` (with ``overrides``) for every grid setting and seed."""
    _check_parallel(parallel)
    grid = dict(grid or {})
    base = read_yaml_mapping(config_path)
    if any(item.partition("=")[0].strip() == "seed" for item in overrides):
        raise ConfigError("--set seed: the seeds of a sweep are given with --seeds")
    apply_overrides(base, overrides)
    seeds = list(seeds) if seeds is not None else default_seeds(base)
    members = plan(base, grid, seeds)
    record = {
        "name": members[0].config.name,
        "config": str(config_path),
        "overrides": list(overrides),
        "grid": grid,
        "seeds": seeds,
        "status": "running",
        "runs": [
            {
                "folder": m.folder,
                "setting": m.setting,
                "values": m.values,
                "seed": m.seed,
                "status": "pending",
            }
            for m in members
        ],
    }
    reporter = reporter or SweepReporter()
    with _shared_client(members[0].config.backend, scheduler, reporter) as client:
        folder = SweepFolder.create(runs_dir, record, base)
        reporter.info(f"sweep: {folder.path}, {len(members)} runs")
        todo = [(member, False) for member in members]
        return _Runner(folder, client, reporter, _parallel(parallel, client, members)).run(todo)


def resume_sweep(
    sweep_dir: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    parallel: int | None = None,
    reporter: SweepReporter | None = None,
) -> SweepResult:
    """Finish a sweep that stopped: runs with a checkpoint continue from it (``evo resume``),
    runs that never started or stopped before their first checkpoint start afresh (the
    folder of the latter is kept, renamed ``<run>.incomplete``), finished runs stay."""
    _check_parallel(parallel)
    folder = SweepFolder.open(sweep_dir)
    try:
        base = read_yaml_mapping(folder.path / BASE)
        members = plan(base, folder.record["grid"], folder.record["seeds"])
    except (KeyError, TypeError, AttributeError):
        raise RunFolderError(f"{folder.path / SWEEP}: not a sweep record") from None
    if [m.folder for m in members] != [e["folder"] for e in folder.runs()]:
        raise RunFolderError(f"{folder.path}: {SWEEP} and {BASE} do not describe the same runs")
    todo = []
    for member, entry in zip(members, folder.runs(), strict=True):
        path = folder.run_path(entry)
        if entry["status"] == "finished" or (path / SUMMARY).is_file():
            entry["status"] = "finished"
        elif not path.exists():
            todo.append((member, False))
        else:
            todo.append((member, bool(RunFolder(path).checkpoints())))
    reporter = reporter or SweepReporter()
    if not todo:
        reporter.info(f"sweep: {folder.path}, every run has finished")
        folder.update(status="finished")
        return SweepResult(folder.path, folder.runs())
    with _shared_client(members[0].config.backend, scheduler, reporter) as client:
        for member, resume in todo:
            path = folder.path / member.folder
            if not resume and path.exists():
                path.rename(_free_name(path.with_name(f"{member.folder}.incomplete")))
        folder.update(status="running")
        reporter.info(f"sweep: {folder.path}, {len(todo)} of {len(members)} runs to do")
        return _Runner(folder, client, reporter, _parallel(parallel, client, members)).run(todo)


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


@contextmanager
def _shared_client(
    config: BackendConfig, scheduler: str | None, reporter: SweepReporter
) -> Iterator[Any]:
    """The Dask client every run of the sweep uses (None: serial, in this process)."""
    if config.kind == "serial" and scheduler is None:
        reporter.info("serial backend (in-process), one run at a time")
        yield None
        return
    from evo.backends.cluster import Connection

    connection = Connection.open(config, scheduler)
    try:
        reporter.info(connection.describe())
        yield connection.client
    finally:
        connection.close()


def _check_parallel(parallel: int | None) -> None:
    if parallel is not None and parallel < 1:
        raise ConfigError(f"--parallel: expected a positive integer, found {parallel}")


def _parallel(parallel: int | None, client: Any, members: list[Member]) -> int:
    """How many runs at once: ``parallel``, or by default as many as the workers' threads
    hold (a run uses at most one thread per member) plus one, to fill the threads a run
    leaves idle at the end of each generation; one on the serial backend."""
    if parallel is not None:
        return min(parallel, len(members))
    if client is None:
        return 1
    with interrupts.deferred():
        workers = client.scheduler_info(n_workers=-1)["workers"]
    threads = sum(worker.get("nthreads", 1) for worker in workers.values())
    # A null population size is CMA-ES's default, 4 + floor(3 ln n): at least 4.
    smallest = min(m.config.algorithm.population_size or 4 for m in members)
    fit = math.ceil(threads / min(threads, smallest)) if threads else 1
    return max(1, min(len(members), fit + 1))


class _Runner:
    """Runs a sweep's members, ``parallel`` at a time, each in a thread of its own."""

    def __init__(
        self, folder: SweepFolder, client: Any, reporter: SweepReporter, parallel: int
    ) -> None:
        self.folder, self.client, self.reporter = folder, client, reporter
        self.parallel = parallel
        self.stop = interrupts.StopRequest()
        self._queue: deque[tuple[Member, bool]] = deque()
        self._lock = threading.Lock()

    def run(self, todo: list[tuple[Member, bool]]) -> SweepResult:
        """Every member to its end (or until interrupted), then the sweep's status."""
        self._queue.extend(todo)
        self.folder.update(parallel=self.parallel)
        self.reporter.start(len(todo), sum(m.config.generations for m, _ in todo))
        # Each thread says when it is done: Thread.join interrupted by Ctrl-C can mark a
        # thread that is still running as stopped (Python 3.11), and the cluster must
        # not close under a run that is still closing its backend.
        finished = [threading.Event() for _ in range(min(self.parallel, len(todo)))]
        try:
            for index, done in enumerate(finished):
                thread = threading.Thread(
                    target=self._work, args=(done,), name=f"evo-sweep-{index}", daemon=True
                )
                thread.start()
            self._wait(finished)
        except KeyboardInterrupt:
            self.stop.set()
            # Each run stops at its next poll; a second Ctrl-C stops waiting for them.
            with suppress(KeyboardInterrupt):
                self._wait(finished)
            self.folder.update(status="interrupted")
            raise
        finally:
            self.reporter.close()
        statuses = {entry["status"] for entry in self.folder.runs()}
        self.folder.update(status="finished" if statuses == {"finished"} else "failed")
        return SweepResult(self.folder.path, self.folder.runs())

    @staticmethod
    def _wait(finished: list[threading.Event]) -> None:
        for done in finished:
            while not done.wait(0.25):
                pass

    def _work(self, done: threading.Event) -> None:
        try:
            while not self.stop.is_set():
                with self._lock:
                    if not self._queue:
                        return
                    member, resume = self._queue.popleft()
                self._run_member(member, resume)
        finally:
            done.set()

    def _run_member(self, member: Member, resume: bool) -> None:
        """One run, to its end; how it ended goes in ``sweep.json``, never an exception."""
        from evo.experiment import resume as resume_run
        from evo.experiment import run

        name = member.folder
        self.folder.update(name, status="running", error=None, started=time.time())
        reporter = self.reporter.member(name)
        fields: dict[str, Any]
        try:
            with interrupts.stoppable(self.stop):
                if resume:
                    result = resume_run(
                        self.folder.path / name, client=self.client, reporter=reporter
                    )
                else:
                    result = run(
                        member.config,
                        self.folder.path,
                        client=self.client,
                        reporter=reporter,
                        folder_name=name,
                    )
        except KeyboardInterrupt:
            fields, text = {"status": "interrupted"}, "interrupted"
        except EvoError as exc:
            fields, text = {"status": "failed", "error": str(exc)}, f"failed: {exc}"
        except Exception as exc:  # any other failure of one run must not end the others
            message = f"{type(exc).__name__}: {exc}"
            fields, text = {"status": "failed", "error": message}, f"failed: {message}"
        else:
            fields, text = {"status": "finished"}, _ending(result.summary)
        self.folder.update(name, **fields, ended=time.time())
        self.reporter.ended(name, text, member.config.generations)


def _ending(summary: Mapping[str, Any]) -> str:
    """How a finished run ended, in one line."""
    verdict = ""
    if summary.get("solve_threshold") is not None and summary.get("final_eval_episodes"):
        verdict = " (solved)" if summary.get("solved") else " (not solved)"
    score = final_score(summary)
    shown = "n/a" if score is None else f"{score:.2f}"
    return (
        f"final {shown}{verdict} after {summary['generations']} generations, stopped by "
        f"{summary['stop_reason']}, {summary['wall_time_s']:.1f}s"
    )
