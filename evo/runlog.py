"""The run folder: config, metrics and events as JSON lines, checkpoints, best policy, summary.

Layout of ``runs/<name>-<YYYYmmdd-HHMMSS>/``::

    config.yaml       the resolved config (reruns as is with `evo run`)
    metrics.jsonl     one object per generation
    events.jsonl      run start, checkpoints, stop, final evaluation
    checkpoints/      gen-NNNNNN.npz (arrays) + gen-NNNNNN.json (metadata, written last)
    lineage/          NNNNNN.npz: generation NNNNNN's members (records, parents, fitness, ...)

Generations are numbered from 1 in every file (format 2, see :mod:`evo.runformat`); the
readers here read an older folder's files as format 2.
    best.npz          the recommended parameters and the policy spec to rebuild them
    summary.json      written at the end

:class:`RunFolder` writes a run folder; :class:`RunRecord` is what reading one gives.
Whole files are written atomically (temp file, fsync, rename); everything is
JSON or ``.npz`` read with ``allow_pickle=False``, so opening a run never runs code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from evo.errors import RunFolderError
from evo.files import (  # the run folder's readers use these from here too
    FolderLock,
    append_line,
    atomic_write_bytes,
    atomic_write_text,
    dumps,
    json_safe,
    load_npz,
    npz_bytes,
    read_jsonl,
    refuse_links,
)
from evo.runformat import (
    FORMAT,
    lineage_file,
    lineage_number,
    read_format,
    upgrade_events,
    upgrade_lineage,
    upgrade_metrics,
)

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
BEST = "best.npz"
CHECKPOINTS = "checkpoints"
LINEAGE = "lineage"
# What a run's writers touch in its folder (a live logger's own folder too).
WRITTEN = (CONFIG, METRICS, EVENTS, SUMMARY, BEST, CHECKPOINTS, LINEAGE, "tensorboard", ".lock")


def new_folder(runs_dir: str | os.PathLike[str], name: str, *, stamp: bool = True) -> Path:
    """Create ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>`` (suffixed ``-2``, ``-3``, ... if taken)
    or, with ``stamp`` False, ``<runs_dir>/<name>``, which must not exist yet."""
    root = Path(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--runs-dir {root}: cannot create it: {exc}") from None
    if not os.access(root, os.W_OK):
        raise RunFolderError(f"--runs-dir {root}: not writable")
    if not stamp:
        try:
            (root / name).mkdir()
        except FileExistsError:
            raise RunFolderError(f"{root / name}: already exists") from None
        return root / name
    when = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        path = root / (f"{name}-{when}" if attempt == 1 else f"{name}-{when}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunFolderError(f"{root}: cannot create a folder for {name!r}")


class RunFolder:
    """One run's folder on disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.made: list[Path] = []  # folders :meth:`create` made above this one, innermost first

    @functools.cached_property
    def format(self) -> int:
        """The folder's layout version (:mod:`evo.runformat`): its config's, or this evo's
        for a folder whose config is not written yet; a newer one is refused."""
        config = self.path / CONFIG
        return read_format(config) if config.exists() else FORMAT

    @classmethod
    def create(
        cls, runs_dir: str | os.PathLike[str], name: str, *, stamp: bool = True
    ) -> RunFolder:
        """A new, empty folder ``<runs_dir>/<name>-<timestamp>`` (suffixed if taken); with
        ``stamp`` False, ``<runs_dir>/<name>`` exactly (a sweep's runs)."""
        root = Path(runs_dir).absolute()
        missing = [root, *root.parents]
        missing = missing[: next(i for i, p in enumerate(missing) if p.exists())]
        path = new_folder(runs_dir, name, stamp=stamp)
        (path / CHECKPOINTS).mkdir()
        folder = cls(path)
        folder.made = missing
        return folder

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunFolder:
        """An existing run folder (it must hold a config and metrics)."""
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"{path}: no such run folder")
        if not (path / CONFIG).is_file():
            raise RunFolderError(f"{path}: not an evo run folder (no {CONFIG})")
        folder = cls(path)
        folder.format  # noqa: B018  (a format newer than this evo reads: refused here)
        return folder

    def remove_temporary_files(self) -> list[Path]:
        """Remove what a process killed mid-write left: the temporary files of atomic
        writes (``.NAME.*.tmp``) in the folder and its checkpoints and lineage. Returns
        them. Only for a writer of the folder (resume), which owns it."""
        removed = []
        for where in (self.path, self.path / CHECKPOINTS, self.path / LINEAGE):
            for temp in where.glob(".*.tmp") if where.is_dir() else ():
                if temp.is_file() and not temp.is_symlink():
                    temp.unlink()
                    removed.append(temp)
        return removed

    def lock(self) -> FolderLock:
        """Lock the folder for this process's writes (see :class:`~evo.files.FolderLock`),
        after checking that none of what a writer touches is a symbolic link."""
        refuse_links(self.path, WRITTEN)
        lock = FolderLock(self.path)
        lock.acquire()
        return lock

    def discard(self) -> None:
        """Remove a folder this process has just created (nothing ran in it), and the
        folders above it that :meth:`create` made, if they are empty."""
        shutil.rmtree(self.path)
        for parent in self.made:
            try:
                parent.rmdir()
            except OSError:  # not empty: something else is in it now
                break

    # ---------------------------------------------------------------- writing

    def write_config(self, text: str) -> None:
        """Save the resolved config."""
        atomic_write_text(self.path / CONFIG, text)

    def config_lines(self) -> list[str]:
        """The saved config's lines, ends kept."""
        return (self.path / CONFIG).read_text(encoding="utf-8").splitlines(keepends=True)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one generation's metrics."""
        self._append(METRICS, record)

    def append_event(self, event: str, **fields: Any) -> None:
        """Append an event with a wall-clock timestamp."""
        self._append(EVENTS, {"time": round(time.time(), 3), "event": event, **fields})

    def _append(self, name: str, record: dict[str, Any]) -> None:
        append_line(self.path / name, dumps(record))

    def save_checkpoint(
        self, generation: int, arrays: dict[str, np.ndarray], meta: dict[str, Any], keep: int
    ) -> Path:
        """Save the state after ``generation`` generations; keep the newest ``keep``."""
        folder = self.path / CHECKPOINTS
        stem = f"gen-{generation:06d}"
        atomic_write_bytes(folder / f"{stem}.npz", npz_bytes(arrays))
        # The JSON goes last: a checkpoint exists once its metadata does.
        atomic_write_text(folder / f"{stem}.json", dumps({"generation": generation, **meta}))
        for old in self.checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".npz").unlink(missing_ok=True)
        return folder / f"{stem}.json"

    def write_best(self, params: np.ndarray, spec_json: str, fitness: float, **extra: Any) -> None:
        """Save the recommended parameters, the spec to rebuild the policy, ``extra`` arrays."""
        arrays = {
            "params": np.asarray(params, dtype=np.float32),
            "policy_spec": np.array(spec_json),
            "fitness": np.float64(fitness),
            **extra,  # what else the policy plays with (the observation statistics)
        }
        atomic_write_bytes(self.path / BEST, npz_bytes(arrays))

    def write_lineage(self, generation: int, arrays: dict[str, np.ndarray]) -> None:
        """Save one generation's lineage (``generation`` counted from 1)."""
        folder = self.path / LINEAGE
        folder.mkdir(exist_ok=True)
        data = npz_bytes(arrays, compressed=True)  # many small arrays: 4 kB, not 7, at 65
        # A log, like metrics.jsonl: whole or absent if the process dies, but not fsynced
        # (that took 4-6 ms a generation here, 5% of a CartPole generation).
        atomic_write_bytes(self.lineage_path(generation), data, sync=False)

    def lineage_path(self, generation: int) -> Path:
        """Where one generation's lineage is (``generation`` counted from 1)."""
        return self.path / LINEAGE / lineage_file(generation, self.format)

    def truncate_lineage(self, generations: int) -> None:
        """Keep the lineage of the first ``generations`` generations (resuming reruns the rest)."""
        for generation, path in self._lineage_files().items():
            if generation > generations:
                path.unlink(missing_ok=True)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Save the end-of-run summary."""
        atomic_write_text(self.path / SUMMARY, json.dumps(json_safe(summary), indent=2) + "\n")

    def truncate_metrics(self, generations: int) -> None:
        """Keep the first ``generations`` lines of the metrics log (resuming reruns the rest)."""
        path = self.path / METRICS
        if not path.exists():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:generations]
        atomic_write_text(path, "".join(line if line.endswith("\n") else "" for line in lines))

    # ---------------------------------------------------------------- reading

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints (their JSON exists), oldest first: by generation, which the
        name holds with at least six digits (``gen-000010``; ``gen-1000000`` sorts after)."""
        found = []
        for path in (self.path / CHECKPOINTS).glob("gen-*.json"):
            digits = path.stem.removeprefix("gen-")
            if digits.isdigit():
                found.append((int(digits), path))
        return [path for _, path in sorted(found)]

    def newest_checkpoint(self, at_most: int, strategy: Any) -> tuple[Any, dict, dict] | None:
        """The state, metadata and arrays of the newest checkpoint saved after at most
        ``at_most`` generations (None: none), for ``strategy`` (a strategy or trainer: its
        ``name`` must be the checkpoint's, its ``state_class`` is what is rebuilt)."""
        for meta_path in reversed(self.checkpoints()):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                done = int(meta["generation"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise RunFolderError(f"{meta_path}: not a checkpoint's metadata: {exc}") from None
            if done > at_most:
                continue
            if meta.get("strategy") != strategy.name:
                raise RunFolderError(
                    f"{meta_path}: a checkpoint of {meta.get('strategy')!r}, "
                    f"but the config runs {strategy.name!r}"
                )
            arrays = load_npz(meta_path.with_suffix(".npz"))
            fields = {k.removeprefix("state."): v for k, v in arrays.items()}
            try:
                return state_from_arrays(strategy.state_class, fields), meta, arrays
            except KeyError as exc:
                raise RunFolderError(f"{meta_path}: the checkpoint lacks {exc}") from None
        return None

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every generation's metrics (a torn last line, from a crash, is skipped)."""
        return upgrade_metrics(read_jsonl(self.path / METRICS), self.format)

    def read_events(self) -> list[dict[str, Any]]:
        """Everything logged in ``events.jsonl``, oldest first."""
        return upgrade_events(read_jsonl(self.path / EVENTS), self.format)

    def read_summary(self) -> dict[str, Any] | None:
        """The summary, or None if the run has not finished."""
        path = self.path / SUMMARY
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{path}: not valid JSON: {exc}") from None

    def lineage_generations(self) -> list[int]:
        """Generations (from 1) whose lineage is recorded, in order."""
        return sorted(self._lineage_files())

    def read_lineage(self, generation: int) -> dict[str, np.ndarray]:
        """Arrays of one generation's lineage (``generation`` counted from 1)."""
        path = self.lineage_path(generation)
        if not path.exists():
            raise RunFolderError(f"{self.path}: no lineage recorded for generation {generation}")
        return upgrade_lineage(load_npz(path), self.format)

    def _lineage_files(self) -> dict[int, Path]:
        folder = self.path / LINEAGE
        if not folder.is_dir():
            return {}
        return {
            lineage_number(path.stem, self.format): path
            for path in folder.glob("*.npz")
            if path.stem.isdigit() and path.stem.isascii()
        }

    def read_best(self) -> dict[str, np.ndarray]:
        """Arrays of ``best.npz``."""
        if not (self.path / BEST).exists():
            raise RunFolderError(f"{self.path}: no {BEST} (has the run finished a generation?)")
        return load_npz(self.path / BEST)


@dataclass(frozen=True)
class RunRecord:
    """A run folder read once, whole, for looking at: its config, logs, summary and best."""

    folder: RunFolder
    config_text: str  # config.yaml as written (a header of versions, then the config)
    config: dict[str, Any]  # config.yaml as plain data, nothing in it run or imported
    metrics: tuple[dict[str, Any], ...]  # a line of metrics.jsonl per generation or round
    events: tuple[dict[str, Any], ...]
    summary: dict[str, Any] | None  # None: the run has not finished
    best: dict[str, np.ndarray] | None  # arrays of best.npz; None: no generation done yet

    @property
    def path(self) -> Path:
        """The run folder."""
        return self.folder.path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunRecord:
        """Read a run folder; a damaged file in it is a one-line :class:`RunFolderError`."""
        folder = RunFolder.open(path)
        text, config = _read_config(folder.path / CONFIG)
        metrics, events = folder.read_metrics(), folder.read_events()
        for name, lines in ((METRICS, metrics), (EVENTS, events)):
            if not all(isinstance(line, dict) for line in lines):
                raise RunFolderError(f"{folder.path}: {name}: expected one JSON object a line")
        summary = folder.read_summary()
        if summary is not None and not isinstance(summary, dict):
            raise RunFolderError(f"{folder.path}: {SUMMARY}: expected a JSON object")
        best = folder.read_best() if (folder.path / BEST).exists() else None
        return cls(folder, text, config, tuple(metrics), tuple(events), summary, best)


def _read_config(path: Path) -> tuple[str, dict[str, Any]]:
    """A run's saved config as text and as plain data (``yaml.safe_load``: no code runs)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: cannot read it: {exc}") from None
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    try:
        config = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunFolderError(f"{path}: not valid YAML: {first}") from None
    if not isinstance(config, dict):
        raise RunFolderError(f"{path}: expected a mapping of config keys")
    return text, config


T = TypeVar("T")


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """A state as named arrays (scalars as 0-d arrays) for an ``.npz`` checkpoint
    (an optional field that is None is left out)."""
    fields = dataclasses.fields(state)
    values = {f.name: getattr(state, f.name) for f in fields}
    return {name: np.asarray(value) for name, value in values.items() if value is not None}


def state_from_arrays(state_class: type[T], arrays: dict[str, np.ndarray]) -> T:
    """Inverse of :func:`state_arrays`. A field with a default may be missing (a
    checkpoint written before the field existed)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(state_class):
        if f.name not in arrays and f.default is not dataclasses.MISSING:
            continue
        array = arrays[f.name]
        values[f.name] = array.item() if array.ndim == 0 else array
    return state_class(**values)
