"""A sweep's folder and its record, ``sweep.json``: the grid, the seeds, each run's status."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evo.errors import RunFolderError
from evo.runlog import atomic_write_text, json_safe, loads, new_folder

SWEEP = "sweep.json"
BASE = "base.yaml"


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
            text = (path / SWEEP).read_bytes()
        except OSError as exc:
            raise RunFolderError(f"{path / SWEEP}: cannot read it: {exc.strerror}") from None
        record = loads(text, str(path / SWEEP))  # strict: 5,000-digit numbers, NaN refused
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
        and folder not in (".", "..")
    )
