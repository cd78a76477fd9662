"""Sweeps: one config over several seeds and a grid of settings, in one folder, on one cluster.

``runs/<name>-sweep-<YYYYmmdd-HHMMSS>/``::

    sweep.json            the grid, the seeds, and each run: setting, seed, status, error
    base.yaml             the config as given, ``--set`` applied: each run is this plus
                          its setting and its seed
    sigma=0.02-seed=0/    a run folder per (setting, seed), as ``evo run`` makes them
    ...

Every run's config is validated before anything is written. The runs share
one Dask client (an embedded LocalCluster, or ``--scheduler``) and several run
at once: each generation ends at a barrier where an experiment's workers wait
for its slowest task, and another experiment's tasks fill them. A run that
fails is recorded and the others go on; Ctrl-C stops them all.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evo import interrupts
from evo.config import (
    BackendConfig,
    ExperimentConfig,
    apply_overrides,
    from_dict,
    read_yaml_mapping,
)
from evo.errors import ConfigError, EvoError, RunFolderError
from evo.reporting import SweepReporter
from evo.runlog import SUMMARY, RunFolder, atomic_write_text, json_safe, new_folder

SWEEP = "sweep.json"
BASE = "base.yaml"
MAX_RUNS = 10_000
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# What the shared cluster is made of: one value for the whole sweep (--set, not --grid).
CLUSTER_KEYS = ("backend.kind", "backend.workers", "backend.scheduler", "backend.security")
CLUSTER_KEYS += ("backend.connect_timeout_s",)


# --------------------------------------------------------------------------- the plan


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``0-4``, ``0,2,7``, ``3``, or a mix (``0-2,9``) -> the seeds in order."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ConfigError(f"--seeds: expected seeds like 0-4, 0,2,7 or 3, found {text!r}")
        low = int(match[1])
        high = low if match[2] is None else int(match[2])
        if high < low:
            raise ConfigError(f"--seeds: the range {part.strip()!r} runs backwards")
        if high - low >= MAX_RUNS:
            raise ConfigError(f"--seeds: at most {MAX_RUNS} runs in a sweep, found {part!r}")
        seeds.extend(range(low, high + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds: seed {repeated[0]} is given twice in {text!r}")
    return seeds


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid KEY=V1,V2,...`` (repeatable) -> ``{key: values}``; each value is YAML, so
    ``policy.hidden_sizes=[8],[16,16]`` gives two lists."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not KEY.fullmatch(key) or not text.strip():
            raise ConfigError(
                f"--grid {item!r}: expected KEY=VALUE,VALUE,... with a dotted KEY, "
                "like algorithm.sigma=0.02,0.05"
            )
        try:
            values = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError:
            raise ConfigError(
                f"--grid {key}: expected comma-separated YAML values, found {text!r}"
            ) from None
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice (list all its values in one --grid)")
        grid[key] = values
    check_grid(grid)
    return grid


def check_grid(grid: Mapping[str, Sequence[Any]]) -> None:
    """Raise :class:`ConfigError` for a grid a sweep cannot run (before any config is read)."""
    keys = list(grid)
    for key, values in grid.items():
        if key == "seed":
            raise ConfigError("--grid seed: the seeds of a sweep are given with --seeds")
        if any(key == k or key.startswith(k + ".") for k in CLUSTER_KEYS) or key == "backend":
            raise ConfigError(
                f"--grid {key}: the runs of a sweep share one cluster; set it with --set"
            )
        if not values:
            raise ConfigError(f"--grid {key}: expected at least one value")
        texts = []
        for value in values:
            try:
                texts.append(json.dumps(value, sort_keys=True, allow_nan=False))
            except (TypeError, ValueError):
                raise ConfigError(
                    f"--grid {key}: expected numbers, strings, true/false, null, lists or "
                    f"mappings, found {value!r}"
                ) from None
        repeated = [t for t in texts if texts.count(t) > 1]
        if repeated:
            raise ConfigError(f"--grid {key}: the value {repeated[0]} is given twice")
        inner = [k for k in keys if k.startswith(key + ".")]
        if inner:
            raise ConfigError(f"--grid {key} and --grid {inner[0]}: one is inside the other")


@dataclass(frozen=True)
class Member:
    """One run of a sweep."""

    folder: str  # its run folder's name in the sweep folder, e.g. "sigma=0.02-seed=3"
    setting: str  # its grid setting, e.g. "sigma=0.02" ("" without a grid)
    values: dict[str, Any]  # grid key -> value
    seed: int
    config: ExperimentConfig


def plan(
    base: dict[str, Any], grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]
) -> list[Member]:
    """Every (setting, seed) of a sweep, setting by setting, each config validated."""
    check_grid(grid)
    keys = list(grid)
    settings = list(itertools.product(*grid.values()))  # [()] without a grid
    if len(settings) * len(seeds) > MAX_RUNS:
        raise ConfigError(
            f"--grid, --seeds: {len(settings) * len(seeds)} runs; a sweep holds at most {MAX_RUNS}"
        )
    members = []
    for label, values in zip(_labels(keys, settings), settings, strict=True):
        for seed in seeds:
            raw = copy.deepcopy(base)
            sets = [f"{key}={_as_yaml(value)}" for key, value in zip(keys, values, strict=True)]
            apply_overrides(raw, [*sets, f"seed={seed}"])
            folder = f"{label}-seed={seed}" if label else f"seed={seed}"
            config = from_dict(raw)
            members.append(
                Member(folder, label, dict(zip(keys, values, strict=True)), seed, config)
            )
    return members


def _as_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 30)


def _labels(keys: list[str], settings: list[tuple[Any, ...]]) -> list[str]:
    """Readable, folder-safe names of the settings (``sigma=0.02-population_size=64``):
    a key by its last part unless two keys share it; names made unique."""
    lasts = [key.rsplit(".", 1)[-1] for key in keys]
    names = [last if lasts.count(last) == 1 else key for key, last in zip(keys, lasts, strict=True)]
    labels: list[str] = []
    for values in settings:
        label = "-".join(f"{n}={_word(v)}" for n, v in zip(names, values, strict=True))
        if len(label) > 120:
            label = f"setting{len(labels) + 1}"
        while label in labels:
            label += "_"
        labels.append(label)
    return labels


def _word(value: Any) -> str:
    """A value as a word for a folder name: ``[16, 16]`` -> ``16x16``."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, (list, tuple)):
        text = "x".join(_word(v) for v in value) or "none"
    elif isinstance(value, dict):
        text = "+".join(f"{k}={_word(v)}" for k, v in value.items()) or "none"
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9_.+=-]", "_", text)


def default_seeds(base: Mapping[str, Any]) -> list[int]:
    """Without ``--seeds``: the config's own seed."""
    seed = base.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"--seeds: the config's seed is {seed!r}; give seeds, e.g. --seeds 0-4")
    return [seed]


# --------------------------------------------------------------------------- the folder


class SweepFolder:
    """A sweep's folder: ``sweep.json``, rewritten atomically whenever a run starts or ends."""

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        self.path = Path(path)
        self.record = record
        self._lock = threading.Lock()

    @staticmethod
    def holds_sweep(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a sweep folder (rather than a run folder)."""
        return (Path(path) / SWEEP).is_file()

    @classmethod
    def create(
        cls, runs_dir: str | os.PathLike[str], record: dict[str, Any], base: dict[str, Any]
    ) -> SweepFolder:
        """A new folder ``<runs_dir>/<name>-sweep-<timestamp>`` with its record and base config."""
        folder = cls(new_folder(runs_dir, f"{record['name']}-sweep"), record)
        atomic_write_text(folder.path / BASE, yaml.safe_dump(base, sort_keys=False))
        folder.write()
        return folder

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SweepFolder:
        """An existing sweep folder (read only: nothing in it is executed)."""
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"{path}: no such sweep folder")
        if not (path / SWEEP).is_file():
            raise RunFolderError(f"{path}: not an evo sweep folder (no {SWEEP})")
        try:
            record = json.loads((path / SWEEP).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{path / SWEEP}: not valid JSON: {exc}") from None
        runs = record.get("runs") if isinstance(record, dict) else None
        if not isinstance(runs, list) or not all(_is_entry(entry) for entry in runs):
            raise RunFolderError(f"{path / SWEEP}: not a sweep record (no list of runs)")
        return cls(path, record)

    def runs(self) -> list[dict[str, Any]]:
        """Each run's entry: folder, setting, values, seed, status (and error, times)."""
        return self.record["runs"]

    def run_path(self, entry: Mapping[str, Any]) -> Path:
        """The run folder of an entry."""
        return self.path / entry["folder"]

    def settings(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The runs grouped by setting, in the sweep's order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in self.runs():
            groups.setdefault(entry["setting"], []).append(entry)
        return list(groups.items())

    def update(self, folder: str | None = None, **fields: Any) -> None:
        """Change the record of run ``folder`` (or, without one, of the sweep) and save it."""
        with self._lock:
            if folder is None:
                self.record.update(fields)
            else:
                next(e for e in self.runs() if e["folder"] == folder).update(fields)
            self.write()

    def write(self) -> None:
        """Save ``sweep.json`` (atomically)."""
        text = json.dumps(json_safe(self.record), indent=2, allow_nan=False) + "\n"
        atomic_write_text(self.path / SWEEP, text)


def _is_entry(entry: Any) -> bool:
    """A run entry whose folder is a plain name inside the sweep folder."""
    if not isinstance(entry, dict) or not isinstance(entry.get("setting"), str):
        return False
    folder = entry.get("folder")
    return (
        isinstance(folder, str)
        and bool(re.fullmatch(r"[^/\\]+", folder))
        and folder
        not in (
            ".",
            "..",
        )
    )


# --------------------------------------------------------------------------- running


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
    from evo.backends.dask import describe_client, start_client

    with interrupts.deferred():
        client, cluster = start_client(config, scheduler)
    try:
        reporter.info(describe_client(client, cluster))
        yield client
    finally:
        with interrupts.deferred():
            client.close()
            if cluster is not None:
                cluster.close()


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
    smallest = min(m.config.algorithm.population_size for m in members)
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
        from evo.loop import resume as resume_run
        from evo.loop import run

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


# --------------------------------------------------------------------------- reading


def final_score(summary: Mapping[str, Any]) -> float | None:
    """A run's score: its final evaluation's mean return, or without one its best fitness."""
    value = summary.get("final_eval_mean") if summary.get("final_eval_episodes") else None
    if value is None:
        value = summary.get("best_fitness")
    try:
        value = float(value)  # "inf"/"-inf" as the run log writes them
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class RunOutcome:
    """One run of a sweep as its folder and the sweep's record show it."""

    folder: str
    seed: Any
    status: str
    error: str | None
    score: float | None
    solved: bool | None
    wall_time_s: float | None
    generations: int | None


def outcomes(folder: SweepFolder) -> list[tuple[str, list[RunOutcome]]]:
    """Each setting's runs: status from ``sweep.json``, results from their summaries."""
    table = []
    for setting, entries in folder.settings():
        runs = []
        for entry in entries:
            summary = None
            path = folder.run_path(entry)
            if (path / SUMMARY).is_file():
                summary = RunFolder(path).read_summary()
            summary = summary or {}
            status = entry.get("status", "unknown")
            if summary and status != "finished":
                status = "finished"  # the sweep stopped before recording it
            runs.append(
                RunOutcome(
                    folder=entry["folder"],
                    seed=entry.get("seed"),
                    status=status,
                    error=entry.get("error"),
                    score=final_score(summary) if summary else None,
                    solved=summary.get("solved")
                    if summary.get("solve_threshold") is not None
                    else None,
                    wall_time_s=summary.get("wall_time_s"),
                    generations=summary.get("generations"),
                )
            )
        table.append((setting, runs))
    return table
