"""The run folder: atomic writes, strict JSON lines, checkpoints without pickle, the reader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from evo.errors import RunFolderError
from evo.noise import NoiseTable, noise
from evo.population import Members, Population, materialize
from evo.runlog import RunFolder, RunRecord, atomic_write_text, dumps, load_npz


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


def test_a_run_record_holds_what_the_writer_wrote(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "x")
    folder.write_config("# versions\n# format 2\nname: x\nseed: 3\nenv:\n  id: CartPole-v1\n")
    folder.append_event("start", backend="serial")
    folder.append_metrics({"generation": 1, "fitness_max": 1.5})
    unfinished = RunRecord.read(folder.path)
    assert unfinished.path == folder.path and unfinished.folder.path == folder.path
    assert unfinished.config_text.startswith("# versions\n")
    assert unfinished.config == {"name": "x", "seed": 3, "env": {"id": "CartPole-v1"}}
    assert unfinished.metrics == ({"generation": 1, "fitness_max": 1.5},)
    assert [event["event"] for event in unfinished.events] == ["start"]
    assert unfinished.summary is None and unfinished.best is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        unfinished.summary = {}  # type: ignore[misc]

    folder.write_best(np.arange(3), '{"spec": 1}', 1.5)
    folder.write_summary({"generations": 1, "solved": None})
    finished = RunRecord.read(folder.path)
    assert finished.summary == {"generations": 1, "solved": None}
    assert finished.best is not None
    np.testing.assert_array_equal(finished.best["params"], np.arange(3, dtype=np.float32))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("config.yaml", "name: [x\n", "config.yaml: not valid YAML"),
        ("config.yaml", "- a list\n", "config.yaml: expected a mapping of config keys"),
        ("metrics.jsonl", '{"generation": 0}\n[1, 2]\n', "metrics.jsonl:2: expected a JSON object"),
        ("events.jsonl", '"start"\n', "events.jsonl:1: expected a JSON object, found str"),
        ("summary.json", "[1]", "summary.json: expected a JSON object"),
        ("summary.json", "{", "summary.json: not valid JSON"),
        ("best.npz", "not an archive", r"best.npz: not a readable \.npz"),
    ],
)
def test_a_damaged_run_record_is_one_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    folder = RunFolder.create(tmp_path, "x")
    folder.write_config("name: x\n")
    (folder.path / name).write_text(text)
    with pytest.raises(RunFolderError, match=message) as caught:
        RunRecord.read(folder.path)
    assert "\n" not in str(caught.value)


def test_materialize_is_base_plus_signed_scaled_noise() -> None:
    bases = np.stack([np.zeros(50, np.float32), np.ones(50, np.float32)])
    members = Members.build([0, 1, 1, 0], [11, 11, 12, 0], [0.5, 0.5, 0.1, 0.0], [1, -1, 1, 1])
    table = NoiseTable(size=100)
    population = Population(bases, members, noise=table)
    params = population.params()
    np.testing.assert_array_equal(params[0], np.float32(0.5) * noise(table, 11, 50))
    np.testing.assert_array_equal(params[1], 1 + np.float32(-0.5) * noise(table, 11, 50))
    np.testing.assert_array_equal(params[3], bases[0])
    np.testing.assert_array_equal(
        population.params([2]), materialize(population.shared, members.take(np.array([2])))
    )
    assert members.nbytes == 4 * (4 + 8 + 4 + 1)
