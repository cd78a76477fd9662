"""Ways to damage a run folder's files, as a disk, a crash or an attacker would: each a
function of the file's path that rewrites it."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

Corruption = Callable[[Path], None]
GIB = 1 << 30


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _edit_record(edit: Callable[[dict], None], line: int = 0) -> Corruption:
    """Change one JSON object of a JSON-lines file (its first line by default)."""

    def corrupt(path: Path) -> None:
        lines = _lines(path)
        record = json.loads(lines[line])
        edit(record)
        lines[line] = json.dumps(record)
        _write_lines(path, lines)

    return corrupt


def _raw_line(text: str, line: int = 0) -> Corruption:
    def corrupt(path: Path) -> None:
        lines = _lines(path)
        lines[line] = text
        _write_lines(path, lines)

    return corrupt


def _set_field(key: str, value: object) -> Callable[[dict], None]:
    def edit(record: dict) -> None:
        record[key] = value

    return edit


def _replace_text(old: str, new: str) -> Corruption:
    """Replace ``old`` by ``new`` in a JSON text (raw: ``new`` may be no valid JSON value)."""

    def corrupt(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return corrupt


def non_utf8(path: Path) -> None:
    """Bytes that are no UTF-8 in the middle of the file."""
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + b"\xff\xfe\xc3" + data[middle:])


def truncated(path: Path) -> None:
    """The first half of the file only."""
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def emptied(path: Path) -> None:
    path.write_bytes(b"")


HUGE = "9" * 400  # an integer no int64 holds, as JSON text

# A metrics.jsonl or events.jsonl line (the first; a middle one for the not-a-torn-line
# cases): what each corruption does to it.
JSONL: dict[str, Corruption] = {
    "non-utf8": non_utf8,
    "list-line": _raw_line("[1, 2, 3]"),
    "string-line": _raw_line('"generation"'),
    "number-line": _raw_line("12"),
    "not-json": _raw_line("{generation: 1"),
    "generation-string": _edit_record(_set_field("generation", "one")),
    "generation-huge": _replace_text('"generation":', f'"generation":{HUGE},"was":'),
    "generation-digits": _replace_text('"generation":', f'"generation":{"9" * 5000},"was":'),
    "generation-float": _edit_record(_set_field("generation", 1.5)),
    "generation-bool": _edit_record(_set_field("generation", True)),
    "nested-list": _edit_record(_set_field("generation", [[1, 2], [3]])),
    "emptied": emptied,
}
METRICS: dict[str, Corruption] = {
    **JSONL,
    "fitness-string": _edit_record(_set_field("fitness_mean", "high")),
    "fitness-huge": _replace_text('"fitness_mean":', f'"fitness_mean":{HUGE},"was":'),
    "fitness-nan": _replace_text('"fitness_mean":', '"fitness_mean":NaN,"was":'),
    "fitness-infinity": _replace_text('"fitness_max":', '"fitness_max":-Infinity,"was":'),
    "fitness-list": _edit_record(_set_field("fitness_max", [1.0, 2.0])),
    "fitness-object": _edit_record(_set_field("best_so_far", {"a": 1})),
    "time-string": _edit_record(_set_field("time_s", "soon")),
    "evaluations-huge": _replace_text('"evaluations":', f'"evaluations":{HUGE},"was":'),
    "no-generation": _edit_record(lambda record: record.pop("generation")),
}
EVENTS: dict[str, Corruption] = {
    **JSONL,
    "event-number": _edit_record(_set_field("event", 3)),
    "time-string": _edit_record(_set_field("time", "noon")),
    "time-huge": _replace_text('"time":', f'"time":{HUGE},"was":'),
    "no-event": _edit_record(lambda record: record.pop("event")),
}


def _summary(edit: Callable[[dict], None]) -> Corruption:
    def corrupt(path: Path) -> None:
        record = json.loads(path.read_text(encoding="utf-8"))
        edit(record)
        path.write_text(json.dumps(record), encoding="utf-8")

    return corrupt


SUMMARY: dict[str, Corruption] = {
    "non-utf8": non_utf8,
    "truncated": truncated,
    "a-list": lambda path: path.write_text("[1, 2]"),
    "best-string": _summary(_set_field("best_fitness", "great")),
    "best-huge": _replace_text('"best_fitness":', f'"best_fitness":{HUGE},"was":'),
    "best-nan": _replace_text('"best_fitness":', '"best_fitness":NaN,"was":'),
    "generations-list": _summary(_set_field("generations", [3])),
    "final-eval-object": _summary(_set_field("final_eval_mean", {"x": 1})),
    "wall-time-string": _summary(_set_field("wall_time_s", "long")),
    "format-string": _summary(_set_field("format", "two")),
}


def _yaml_replace(old: str, new: str) -> Corruption:
    def corrupt(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return corrupt


CONFIG: dict[str, Corruption] = {
    "non-utf8": non_utf8,
    "truncated": truncated,
    "a-list": lambda path: path.write_text("- 1\n- 2\n"),
    "python-tag": lambda path: path.write_text("!!python/object/apply:os.system ['true']\n"),
    "population-string": _yaml_replace("population_size: 10", "population_size: many"),
    "population-huge": _yaml_replace("population_size: 10", f"population_size: {HUGE}"),
    "seed-huge": _yaml_replace("seed: 7", f"seed: {HUGE}"),
    "sigma-nan": _yaml_replace("sigma: 0.1", "sigma: .nan"),
    "algorithm-list": _yaml_replace("name: openai_es", "name: [openai_es]"),
    "policy-scalar": _yaml_replace("policy:", "policy: 3\nold_policy:"),
    "format-word": _yaml_replace("# format 2", "# format two"),
    "format-newer": _yaml_replace("# format 2", "# format 99"),
    "format-huge": _yaml_replace("# format 2", f"# format {'9' * 5000}"),
}


# ---------------------------------------------------------------- .npz archives


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _save(path: Path, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _edit_arrays(edit: Callable[[dict[str, np.ndarray]], None]) -> Corruption:
    def corrupt(path: Path) -> None:
        arrays = _arrays(path)
        edit(arrays)
        _save(path, arrays, compressed=path.parent.name == "lineage")

    return corrupt


def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """A version-1 ``.npy`` header declaring ``shape`` of ``dtype``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def declares_terabytes(path: Path) -> None:
    """One member replaced by a header declaring 8 TB of float64 (and a few bytes of data)."""
    arrays = _arrays(path)
    name = max(arrays, key=lambda key: arrays[key].size)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, array in arrays.items():
            if key == name:
                archive.writestr(f"{key}.npy", _npy_header("<f8", (10**12,)) + b"\0" * 64)
            else:
                member = io.BytesIO()
                np.lib.format.write_array(member, array, allow_pickle=False)
                archive.writestr(f"{key}.npy", member.getvalue())
    path.write_bytes(buffer.getvalue())


def zip_bomb(path: Path, size: int = 2 * GIB) -> None:
    """A small deflated member that inflates to ``size`` bytes (zeros after a header that
    declares them), in place of the archive's largest array."""
    arrays = _arrays(path)
    name = max(arrays, key=lambda key: arrays[key].size)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            if key != name:
                member = io.BytesIO()
                np.lib.format.write_array(member, array, allow_pickle=False)
                archive.writestr(f"{key}.npy", member.getvalue())
        header = _npy_header("<f8", ((size - 128) // 8,))
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(header)
            zeros = bytes(1 << 24)
            left = ((size - 128) // 8) * 8
            while left > 0:
                member.write(zeros[: min(left, len(zeros))])
                left -= len(zeros)
    path.write_bytes(buffer.getvalue())


def bit_flips(path: Path, count: int = 8, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for index in rng.integers(0, len(data), size=count):
        data[index] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))


def _reshape_largest(arrays: dict[str, np.ndarray]) -> None:
    name = max(arrays, key=lambda key: arrays[key].size)
    arrays[name] = np.stack([arrays[name], arrays[name]])


def _shorten_largest(arrays: dict[str, np.ndarray]) -> None:
    name = max(arrays, key=lambda key: arrays[key].size)
    arrays[name] = arrays[name][:-3]


def _as_text(arrays: dict[str, np.ndarray]) -> None:
    name = max(arrays, key=lambda key: arrays[key].size)
    arrays[name] = np.array(["x"] * arrays[name].size)


def _nan_everywhere(arrays: dict[str, np.ndarray]) -> None:
    for key, array in arrays.items():
        if array.dtype.kind == "f":
            arrays[key] = np.full_like(array, np.nan)


def _drop_largest(arrays: dict[str, np.ndarray]) -> None:
    del arrays[max(arrays, key=lambda key: arrays[key].size)]


def _scalars_to_vectors(arrays: dict[str, np.ndarray]) -> None:
    for key, array in list(arrays.items()):
        if array.ndim == 0:
            arrays[key] = np.stack([array, array])


NPZ: dict[str, Corruption] = {
    "truncated": truncated,
    "emptied": emptied,
    "bit-flips": bit_flips,
    "not-zip": lambda path: path.write_bytes(b"PK\x03\x04" + b"\0" * 100),
    "declares-8tb": declares_terabytes,
    "zip-bomb": zip_bomb,
    "wrong-shape": _edit_arrays(_reshape_largest),
    "shorter": _edit_arrays(_shorten_largest),
    "text-array": _edit_arrays(_as_text),
    "nan": _edit_arrays(_nan_everywhere),
    "missing-array": _edit_arrays(_drop_largest),
    "scalars-as-vectors": _edit_arrays(_scalars_to_vectors),
    "object-array": lambda path: path.write_bytes(_object_npz()),
}


def _object_npz() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = io.BytesIO()
        np.lib.format.write_array(member, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        archive.writestr("params.npy", member.getvalue())
    return buffer.getvalue()


def _previous_checkpoint(path: Path) -> None:
    """The arrays of the checkpoint before this one under this one's name."""
    number = int(path.stem.removeprefix("gen-"))
    path.write_bytes(path.with_name(f"gen-{number - 1:06d}.npz").read_bytes())


CHECKPOINT_NPZ: dict[str, Corruption] = {**NPZ, "another-generation": _previous_checkpoint}

CHECKPOINT_JSON: dict[str, Corruption] = {
    "non-utf8": non_utf8,
    "truncated": truncated,
    "a-list": lambda path: path.write_text("[1]"),
    "generation-string": _summary(_set_field("generation", "one")),
    "generation-huge": _replace_text('"generation":', f'"generation":{HUGE},"was":'),
    "evaluations-nan": _replace_text('"evaluations":', '"evaluations":NaN,"was":'),
    "seed-huge": _replace_text('"seed":', f'"seed":{HUGE},"was":'),
    "elapsed-list": _summary(_set_field("elapsed_s", [1])),
    "config-list": _summary(_set_field("config", [1])),
}
