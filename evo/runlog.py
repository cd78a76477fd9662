"""The run folder: config, metrics and events as JSON lines, checkpoints, best policy, summary.

Layout of ``runs/<name>-<YYYYmmdd-HHMMSS>/``::

    config.yaml       the resolved config (reruns as is with `evo run`)
    metrics.jsonl     one object per generation
    events.jsonl      run start, checkpoints, stop, final evaluation
    checkpoints/      gen-NNNNNN.npz (arrays) + gen-NNNNNN.json (metadata, written last)
    lineage/          NNNNNN.npz: generation NNNNNN's members (records, parents, fitness, ...)
    best.npz          the recommended parameters and the policy spec to rebuild them
    summary.json      written at the end

Generations are numbered from 1 in every file (format 2, see :mod:`evo.runformat`); the
readers here read an older folder's files as format 2, and check what they read
(:mod:`evo.records`): a damaged file is a one-line :class:`RunFolderError`.

:class:`RunFolder` writes a run folder; :class:`RunRecord` is what reading one gives.
Whole files are written atomically (temp file, fsync, rename); everything is
JSON or ``.npz`` read with ``allow_pickle=False``, so opening a run never runs code.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    loads,
    new_folder,
    npz_bytes,
    read_jsonl,
    refuse_links,
)
from evo.records import (  # state_arrays, state_from_arrays: read from here too
    check_best,
    check_checkpoint,
    check_event,
    check_metrics,
    check_summary,
    is_count,
    state_arrays,  # noqa: F401
    state_from_arrays,
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
# A lineage file: its observation statistics and names, and its member columns (49 bytes
# a member today, with the .npy headers of a few dozen columns).
LINEAGE_FLOOR, LINEAGE_MEMBER = 16 << 20, 256
WRITTEN = (CONFIG, METRICS, EVENTS, SUMMARY, BEST, CHECKPOINTS, LINEAGE, "tensorboard", ".lock")


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

    @functools.cached_property
    def lineage_limit(self) -> int:
        """The most bytes one generation's lineage of this run's config holds (a few
        columns a member, the observation statistics): a larger one is refused unread."""
        _, config = _read_config(self.path / CONFIG)
        algorithm = config.get("algorithm")
        size = algorithm.get("population_size") if isinstance(algorithm, dict) else None
        members = size if is_count(size) and size < 2**40 else 1 << 20
        return LINEAGE_FLOOR + LINEAGE_MEMBER * (members + 1)

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

    def truncate_metrics(self, generations: int | None, name: str = METRICS) -> None:
        """Keep the first ``generations`` lines (None: all) of the metrics log (or of log
        ``name``), without a torn last line: resuming reruns the rest and appends."""
        path = self.path / name
        if not path.exists() or (generations is None and _ends_whole(path)):
            return
        with path.open("rb") as handle:  # the lines kept only, a line at a time
            lines = list(itertools.islice(handle, generations))
        atomic_write_bytes(path, b"".join(line for line in lines if line.endswith(b"\n")))

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
            meta = check_checkpoint(str(meta_path), loads(_read_bytes(meta_path), str(meta_path)))
            done = meta["generation"]
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
            except (TypeError, ValueError) as exc:  # a field of another shape than its kind
                raise RunFolderError(f"{meta_path}: not a checkpoint of this run: {exc}") from None
        return None

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every generation's metrics (a torn last line, from a crash, is skipped)."""
        return upgrade_metrics(read_jsonl(self.path / METRICS, check_metrics), self.format)

    def read_events(self) -> list[dict[str, Any]]:
        """Everything logged in ``events.jsonl``, oldest first."""
        return upgrade_events(read_jsonl(self.path / EVENTS, check_event), self.format)

    def read_summary(self) -> dict[str, Any] | None:
        """The summary, or None if the run has not finished."""
        path = self.path / SUMMARY
        if not path.exists():
            return None
        return check_summary(str(path), loads(_read_bytes(path), str(path)))

    def lineage_generations(self) -> list[int]:
        """Generations (from 1) whose lineage is recorded, in order."""
        return sorted(self._lineage_files())

    def read_lineage(self, generation: int) -> dict[str, np.ndarray]:
        """Arrays of one generation's lineage (``generation`` counted from 1)."""
        path = self.lineage_path(generation)
        if not path.exists():
            raise RunFolderError(f"{self.path}: no lineage recorded for generation {generation}")
        return upgrade_lineage(load_npz(path, self.lineage_limit), self.format)

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
        return check_best(self.path / BEST, load_npz(self.path / BEST))


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
        summary = folder.read_summary()
        best = folder.read_best() if (folder.path / BEST).exists() else None
        return cls(folder, text, config, tuple(metrics), tuple(events), summary, best)


def _ends_whole(path: Path) -> bool:
    with path.open("rb") as handle:
        return (
            handle.seek(0, os.SEEK_END) == 0
            or (handle.seek(-1, os.SEEK_END), handle.read())[1] == b"\n"
        )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot read it: {exc.strerror}") from None


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
