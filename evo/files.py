"""Files written whole or not at all, strict JSON, and ``.npz`` archives read without
unpickling: what the run folder and the exports are made of."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from evo.errors import RunFolderError
from evo.interrupts import deferred

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
    """An ``.npz`` archive in memory (to be written atomically), deflated if ``compressed``.

    An interrupt waits until the archive is built: raised between zipfile's opening of a
    member and its ``with`` block, it leaves the archive with an open write handle, and
    the ValueError its close then raises would replace the interrupt."""
    buffer = io.BytesIO()
    with deferred():
        (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def load_npz(path: Path, limit: int | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, never unpickling anything, and never reading more than
    ``limit`` bytes of arrays (None: no more than the file holds, as an archive of stored
    members is): each member's declared size is checked before a byte of it is inflated,
    so a small file that would inflate to gigabytes (or declares terabytes) is refused."""
    check_archive(path, limit)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise RunFolderError(f"{path}: not a readable .npz archive: {_short(exc)}") from None


def check_archive(path: Path, limit: int | None = None) -> None:
    """A :class:`RunFolderError` unless ``path`` is a zip archive of ``.npy`` members whose
    headers parse and whose declared sizes, together, stay within ``limit`` bytes (None:
    the size of the file itself)."""
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > (size if limit is None else limit):
                raise RunFolderError(
                    f"{path}: its arrays would take {total:,} bytes, more than the "
                    f"{size if limit is None else limit:,} a run of its config writes"
                )
            for member in members:
                with archive.open(member) as handle:
                    _check_member(path, member, handle)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        raise RunFolderError(f"{path}: not a readable .npz archive: {_short(exc)}") from None


def _check_member(path: Path, member: zipfile.ZipInfo, handle: IO[bytes]) -> None:
    """One member's ``.npy`` header: parseable, no objects, its shape within the bytes the
    member declares (a header may not promise more data than there is)."""
    try:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy version {version}")
        reader = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
        shape, _, dtype = reader(handle, max_header_size=4096)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise RunFolderError(
            f"{path}: {member.filename}: not an .npy array: {_short(exc)}"
        ) from None
    if dtype.hasobject:
        raise RunFolderError(
            f"{path}: not a readable .npz archive: {member.filename} holds Python objects"
        )
    count = 1
    for length in shape:
        count *= int(length)
    if count * dtype.itemsize > member.file_size:
        raise RunFolderError(
            f"{path}: {member.filename}: declares {count * dtype.itemsize:,} bytes of "
            f"{dtype}{list(shape)} in {member.file_size:,}"
        )


def _short(exc: BaseException) -> str:
    """An exception's message on one line, and not too long for one."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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


def loads(text: str | bytes, where: str) -> Any:
    """Strict JSON, as evo writes it: no NaN or Infinity literals, no number beyond what a
    float64 holds or an integer beyond int64 (a :class:`RunFolderError` naming ``where``)."""
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise RunFolderError(f"{where}: not valid JSON: {_short(exc)}") from None


def _constant(name: str) -> Any:
    raise ValueError(f'{name} is not JSON (evo writes null or "inf")')


def _integer(text: str) -> int:
    if len(text) > 20 or not -(2**63) <= int(text) < 2**63:
        raise ValueError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} beyond int64")
    return int(text)


def _float(text: str) -> float:
    value = float(text[:400])
    if len(text) > 400 or not math.isfinite(value):
        raise ValueError(f"number {text[:24]}{'...' if len(text) > 24 else ''} beyond float64")
    return value


MAX_LINE = 1 << 20  # a line of metrics or events is a few hundred bytes to a few kB


def read_jsonl(
    path: Path, check: Callable[[str, dict[str, Any]], Any] | None = None
) -> list[dict[str, Any]]:
    """A JSON-lines file's objects (none: no file), read a line at a time, each passed to
    ``check(where, record)`` if given; a torn last line, from a crash, is skipped, another
    bad line (no UTF-8, no JSON, not an object, refused by ``check``) is a one-line
    :class:`RunFolderError`."""
    if not path.exists():
        return []
    records = []
    last = b""
    try:
        with path.open("rb") as lines:
            pending: str | None = None  # what is wrong with the line before this one
            number = 0
            while raw := lines.readline(MAX_LINE + 1):  # a line at a time, none unbounded
                number, last = number + 1, raw
                if pending is not None:  # a bad line that was not the last
                    raise RunFolderError(pending)
                where = f"{path}:{number}"
                if len(raw) > MAX_LINE:
                    raise RunFolderError(f"{where}: a line of more than {MAX_LINE:,} bytes")
                try:
                    record = _record(raw, where)
                    if record is not None and check is not None:
                        check(where, record)
                except RunFolderError as exc:
                    message = str(exc)
                    pending = message if message.startswith(where) else f"{where}: {message}"
                    continue
                if record is not None:
                    records.append(record)
            if pending is not None and last.endswith(b"\n"):  # a whole line, not a torn one
                raise RunFolderError(pending)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot read it: {_short(exc)}") from None
    return records


def _record(raw: bytes, where: str) -> dict[str, Any] | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFolderError("not UTF-8 text") from None
    if not line.strip():
        return None
    try:
        record = loads(line, where)
    except RunFolderError as exc:
        raise RunFolderError(str(exc).removeprefix(f"{where}: ")) from None
    if not isinstance(record, dict):
        raise RunFolderError(f"expected a JSON object, found {type(record).__name__}")
    return record


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
