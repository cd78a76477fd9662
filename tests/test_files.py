"""The readers of run-folder files, against what the tamper tests and fuzzers found: each
damaged file is a one-line RunFolderError, found before anything large is read."""

from __future__ import annotations

import io
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evo import interrupts
from evo.errors import RunFolderError
from evo.files import MAX_LINE, load_npz, loads, npz_bytes, read_jsonl
from evo.records import check_metrics
from tests.fuzz import tamper


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_a_member_declaring_terabytes_is_refused_unread(tmp_path: Path) -> None:
    path = _npz(tmp_path / "x.npz", params=np.zeros(100, dtype=np.float32))
    tamper.declares_terabytes(path)
    with pytest.raises(RunFolderError, match=r"declares 8,000,000,000,000 bytes"):
        load_npz(path)


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path: Path) -> None:
    path = _npz(tmp_path / "x.npz", fitness=np.zeros(10))
    tamper.zip_bomb(path, 64 << 20)
    assert path.stat().st_size < 1 << 20  # small on disk
    with pytest.raises(RunFolderError, match=r"would take 67,10\d,\d+ bytes, more than"):
        load_npz(path)  # a stored archive's limit: no more than the file holds
    with pytest.raises(RunFolderError, match=r"more than the 1,048,576 a run"):
        load_npz(path, limit=1 << 20)  # a lineage's limit, from the run's population
    assert load_npz(path, limit=128 << 20)["fitness"].nbytes == (64 << 20) - 128  # within: read


def test_a_stored_archive_within_its_size_is_read(tmp_path: Path) -> None:
    path = _npz(tmp_path / "x.npz", a=np.arange(5), b=np.array("text"))
    arrays = load_npz(path)
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and str(arrays["b"]) == "text"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"generation": NaN}', "NaN is not JSON"),
        ('{"generation": -Infinity}', "-Infinity is not JSON"),
        ('{"generation": ' + "9" * 400 + "}", "beyond int64"),
        ('{"generation": ' + "9" * 5000 + "}", "beyond int64"),
        ('{"fitness_max": 1e400}', "beyond float64"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_strict_json(text: str, message: str) -> None:
    with pytest.raises(RunFolderError, match=message) as caught:
        loads(text, "here")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (b'{"generation": 1}\n\xff\xfe{}\n{"generation": 2}\n', r":2: not UTF-8 text"),
        (b'{"generation": 1}\n[1]\n', r":2: expected a JSON object, found list"),
        (b'{"generation": "one"}\n', r":1: 'generation': expected a whole number, found 'one'"),
        (b'{"generation": 1, "fitness_max": "high"}\n', r"'fitness_max': expected a number"),
        (b'{"generation": 1, "fitness_max": [1]}\n', r"'fitness_max': expected a number"),
        (b'{"generation": 1, "extra": {"a": 1}}\n', r"'extra': expected a number or a word"),
        (b'{"generation": 1, "x": "' + b"a" * MAX_LINE + b'"}\n', r":1: a line of more than"),
    ],
)
def test_a_bad_metrics_line_is_one_line(tmp_path: Path, lines: bytes, message: str) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(lines)
    with pytest.raises(RunFolderError, match=message):
        read_jsonl(path, check_metrics)


def test_only_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"generation": 1}\n{"generation": 2, "fit')
    assert read_jsonl(path, check_metrics) == [{"generation": 1}]
    path.write_bytes(b'{"generation": 1}\n{"generation": "two"}\n')  # whole, and wrong
    with pytest.raises(RunFolderError, match=":2: 'generation'"):
        read_jsonl(path, check_metrics)


def test_numbers_as_evo_writes_them_are_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    line = b'{"generation": 1, "fitness_max": "inf", "fitness_min": null, "mode": "gradient"}'
    path.write_bytes(line + b"\n")
    assert read_jsonl(path, check_metrics)[0]["fitness_max"] == "inf"


def test_an_object_array_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = io.BytesIO()
        np.lib.format.write_array(member, np.array([{}], dtype=object), allow_pickle=True)
        archive.writestr("params.npy", member.getvalue())
    (tmp_path / "x.npz").write_bytes(buffer.getvalue())
    with pytest.raises(RunFolderError, match=r"params\.npy holds Python objects"):
        load_npz(tmp_path / "x.npz")


def test_an_event_before_the_first_generation_has_a_null_generation() -> None:
    """As the Dask backend logs a worker's CPU while the first generation runs."""
    from evo.errors import RunFolderError
    from evo.records import check_event

    event = {"time": 1.0, "event": "worker_cpu", "worker": "tls://127.0.0.1:1", "generation": None}
    assert check_event("events.jsonl:4", event) is event
    with pytest.raises(RunFolderError, match="'generation': expected a whole number"):
        check_event("events.jsonl:4", event | {"generation": "one"})


def test_a_signal_while_an_archive_is_built_is_the_interrupt_itself() -> None:
    """An interrupt landing inside ``np.savez`` must not leave zipfile half-closed: the
    ValueError zipfile raises then would hide the interrupt (and its exit status). Many
    small members make the window wide: without the deferral about 2% of these alarms land
    in it (measured), so 600 of them miss it only by a freak of timing."""
    rng = np.random.default_rng(0)
    arrays = {f"a{i}": rng.random(300) for i in range(40)}
    previous = signal.signal(signal.SIGALRM, interrupts._handler)
    seen: list[str] = []
    try:
        for attempt in range(600):
            signal.setitimer(signal.ITIMER_REAL, 0.0001 + 0.0029 * (attempt % 97) / 96)
            try:
                for _ in range(50):
                    npz_bytes(arrays, compressed=True)
            except BaseException as exc:  # the type is what is checked
                seen.append(type(exc).__name__)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert len(seen) == 600 and set(seen) == {"Interrupted"}, sorted(set(seen))
