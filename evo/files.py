"""Files written whole or not at all, strict JSON, and ``.npz`` archives read without
unpickling: what the run folder and the exports are made of."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from evo.errors import RunFolderError

_UMASK = os.umask(0)
os.umask(_UMASK)


def json_safe(value: Any) -> Any:
    """Plain JSON data: numpy scalars unwrapped; NaN -> null, +-inf -> "inf"/"-inf"."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def dumps(value: Any) -> str:
    """One JSON line (strict JSON: no NaN or Infinity literals)."""
    return json.dumps(json_safe(value), allow_nan=False, separators=(",", ":"))


def atomic_write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half
    (with ``sync``, also after a power loss: the data is on disk before the rename)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give it a normal file's mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    """An ``.npz`` archive in memory (to be written atomically), deflated if ``compressed``."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RunFolderError(f"{path}: not a readable .npz archive: {exc}") from None


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (and a newline) to the file at ``path``, never through a symbolic
    link (a link there is a :class:`RunFolderError`)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError:
        if path.is_symlink():
            message = f"{path}: a symbolic link; evo writes only inside the run folder"
            raise RunFolderError(message) from None
        raise
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()


def refuse_links(root: Path, names: tuple[str, ...]) -> None:
    """A :class:`RunFolderError` if ``root`` or any of its entries ``names`` is a symbolic
    link: a writer of the folder must not reach outside it through one."""
    for path in (root, *(root / name for name in names)):
        if path.is_symlink():
            raise RunFolderError(
                f"{path}: a symbolic link to {os.readlink(path)}; evo writes only inside the "
                "run folder (replace the link by the folder or file itself)"
            )


class FolderLock:
    """An exclusive lock on a run folder for as long as this process writes it: a second
    writer (two ``evo resume`` of one run) is refused with one line. The lock is an
    ``flock`` on ``FOLDER/.lock``, so it goes with the process, however it ends."""

    NAME = ".lock"

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunFolderError` naming who holds it."""
        import fcntl
        import socket

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666 & ~_UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(
                f"{self.path.parent}: in use by {holder}; wait for it to end or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"evo process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Let go of the lock (the file stays; it holds nothing once unlocked)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_jsonl(path: Path) -> list[Any]:
    """A JSON-lines file's values (none: no file); a torn last line, from a crash, is
    skipped, another bad line is a one-line :class:`RunFolderError`."""
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last line was being written when the run stopped
            raise RunFolderError(f"{path}:{number}: not valid JSON") from None
    return records
