"""The run folder: atomic writes, strict JSON lines, checkpoints without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evo.errors import RunFolderError
from evo.population import Members, Population, materialize
from evo.runlog import RunFolder, atomic_write_text, dumps, load_npz
from evo.seeding import noise


def test_json_lines_are_strict_json() -> None:
    line = dumps(
        {"a": float("nan"), "b": float("inf"), "c": -np.inf, "d": np.float32(1.5), "e": np.int64(3)}
    )
    assert json.loads(line) == {"a": None, "b": "inf", "c": "-inf", "d": 1.5, "e": 3}
    assert "NaN" not in line and "Infinity" not in line


def test_atomic_write_replaces_whole_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_run_folders_never_collide(tmp_path: Path) -> None:
    first = RunFolder.create(tmp_path, "x")
    second = RunFolder.create(tmp_path, "x")
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()


def test_checkpoints_keep_the_newest(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "x")
    for generation in (1, 2, 3, 4):
        folder.save_checkpoint(
            generation, {"state.v": np.arange(generation)}, {"k": generation}, keep=2
        )
    assert [p.stem for p in folder.checkpoints()] == ["gen-000003", "gen-000004"]
    assert sorted(p.name for p in (folder.path / "checkpoints").iterdir()) == [
        "gen-000003.json",
        "gen-000003.npz",
        "gen-000004.json",
        "gen-000004.npz",
    ]
    np.testing.assert_array_equal(
        load_npz(folder.path / "checkpoints" / "gen-000004.npz")["state.v"], np.arange(4)
    )


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"object": 1}], dtype=object))
    with pytest.raises(RunFolderError, match=r"not a readable \.npz"):
        load_npz(path)


def test_a_torn_last_metrics_line_is_skipped(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "x")
    folder.append_metrics({"generation": 0})
    with open(folder.path / "metrics.jsonl", "a") as handle:
        handle.write('{"generation": 1, "fit')
    assert folder.read_metrics() == [{"generation": 0}]


def test_open_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no such run folder"):
        RunFolder.open(tmp_path / "missing")
    with pytest.raises(RunFolderError, match="not an evo run folder"):
        RunFolder.open(tmp_path)


def test_materialize_is_base_plus_signed_scaled_noise() -> None:
    bases = np.stack([np.zeros(50, np.float32), np.ones(50, np.float32)])
    members = Members.build([0, 1, 1, 0], [11, 11, 12, 0], [0.5, 0.5, 0.1, 0.0], [1, -1, 1, 1])
    population = Population(bases, members)
    params = population.params()
    np.testing.assert_array_equal(params[0], np.float32(0.5) * noise(11, 50))
    np.testing.assert_array_equal(params[1], 1 + np.float32(-0.5) * noise(11, 50))
    np.testing.assert_array_equal(params[3], bases[0])
    np.testing.assert_array_equal(
        population.params([2]), materialize(bases, members.take(np.array([2])))
    )
    assert members.nbytes == 4 * (4 + 8 + 4 + 1)
