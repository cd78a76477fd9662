"""Supervised data sets (evo.datasets) and evolution on them (the config's ``data:`` section)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from evo.config import from_dict
from evo.datasets import (
    DATASETS,
    classification_scores,
    dataset_info,
    load,
    minibatch_indices,
)
from evo.errors import ConfigError
from evo.experiment import resume, run
from evo.population import Members
from evo.problems import Chunk, evaluate_chunk, make_problem
from evo.reporting import Reporter
from evo.runlog import RunFolder, load_npz
from tests.conftest import FITNESS_COLUMNS, REPO, run_cli, tiny_config, write_config

NAMES = sorted(DATASETS)


def _digest(name: str) -> str:
    parts = [array.tobytes() for split in ("train", "test") for array in load(name, split)]
    return hashlib.sha256(b"".join(parts)).hexdigest()


# ------------------------------------------------------------------------------- the data


@pytest.mark.parametrize("name", NAMES)
def test_splits_have_the_promised_shapes_and_types(name: str) -> None:
    info = dataset_info(name)
    for split, size in (("train", info.train_size), ("test", info.test_size)):
        features, labels = load(name, split)
        assert features.shape == (size, info.features) and features.dtype == np.float64
        assert labels.shape == (size,) and labels.dtype == np.int64
        assert features.flags.c_contiguous and labels.flags.c_contiguous
        assert np.isfinite(features).all()
        assert set(np.unique(labels)) == set(range(info.classes))  # every class in every split


def test_spiral_is_class_balanced_shuffled_and_bounded() -> None:
    for split, per_class in (("train", 10_000), ("test", 1_000)):
        features, labels = load("spiral", split)
        assert np.bincount(labels).tolist() == [per_class] * 4
        assert np.linalg.norm(features, axis=1).max() <= 1.0 + 1e-12  # radius in [0, 1]
        assert len(set(labels[:40].tolist())) > 1  # shuffled, not sorted by class
    train, test = load("spiral", "train")[0], load("spiral", "test")[0]
    # Disjoint splits: no test point is a training point, except the arms' common start.
    shared = set(map(tuple, test.tolist())) & set(map(tuple, train.tolist()))
    assert shared <= {(0.0, 0.0)}


def test_digits_are_scaled_to_the_unit_interval() -> None:
    features, _ = load("digits", "train")
    assert features.min() == 0.0 and features.max() == 1.0
    assert len(load("digits", "train")[1]) + len(load("digits", "test")[1]) == 1797


@pytest.mark.parametrize("name", NAMES)
def test_cached_arrays_are_read_only_and_shared(name: str) -> None:
    features, labels = load(name, "train")
    with pytest.raises(ValueError):
        features[0, 0] = 1.0
    with pytest.raises(ValueError):
        labels[0] = 0
    again, _ = load(name, "train", 10, 20)
    assert np.shares_memory(features, again)  # the cache, not a rebuild
    assert not again.flags.writeable


def test_a_fresh_process_builds_the_same_bits() -> None:
    """A restarted worker rebuilds each data set from scratch: it must be the same bits."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from tests.test_datasets import _digest; "
        "print(' '.join(_digest(n) for n in sys.argv[2:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO), *NAMES],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.split() == [_digest(name) for name in NAMES]


def test_row_ranges() -> None:
    features, labels = load("digits", "test")
    part_features, part_labels = load("digits", "test", 100, 160)
    np.testing.assert_array_equal(part_features, features[100:160])
    np.testing.assert_array_equal(part_labels, labels[100:160])
    assert part_features.flags.c_contiguous
    assert load("digits", "test", 360)[0].shape == (0, 64)
    np.testing.assert_array_equal(load("digits", "test", 300)[1], labels[300:])
    for lo, hi in [(-1, 5), (10, 5), (0, 361)]:
        with pytest.raises(ValueError, match="rows"):
            load("digits", "test", lo, hi)
    with pytest.raises(ValueError, match="split"):
        load("digits", "validation")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'spiral'"):
        load("spirals", "train")


def test_minibatches_are_deterministic_distinct_and_in_range() -> None:
    batch = minibatch_indices(3, 7, 256, 40_000)
    assert batch.dtype == np.int64 and batch.shape == (256,)
    assert len(np.unique(batch)) == 256  # without replacement
    assert batch.min() >= 0 and batch.max() < 40_000
    np.testing.assert_array_equal(batch, minibatch_indices(3, 7, 256, 40_000))
    assert not np.array_equal(batch, minibatch_indices(3, 8, 256, 40_000))
    assert not np.array_equal(batch, minibatch_indices(4, 7, 256, 40_000))
    whole = minibatch_indices(0, 0, 1437, 1437)
    assert sorted(whole.tolist()) == list(range(1437))
    with pytest.raises(ValueError):
        minibatch_indices(0, 0, 1438, 1437)


def test_classification_scores_match_a_reference() -> None:
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((4, 50, 10)) * 3).astype(np.float32)
    logits[2] *= 1e4  # large logits: a naive softmax overflows
    labels = rng.integers(0, 10, size=50)
    loss, accuracy = classification_scores(logits, labels)
    assert loss.dtype == np.float64 and accuracy.dtype == np.float64
    for member in range(4):
        z = logits[member].astype(np.float64)
        expected_loss = np.mean([logsumexp(z[r]) - z[r, labels[r]] for r in range(50)])
        expected_accuracy = np.mean([int(np.argmax(z[r]) == labels[r]) for r in range(50)])
        assert loss[member] == pytest.approx(expected_loss, rel=1e-12)
        assert accuracy[member] == expected_accuracy
    assert np.isfinite(loss).all()
    # A member's scores depend on its own logits only.
    alone = classification_scores(logits[1:2], labels)
    assert alone[0][0] == loss[1] and alone[1][0] == accuracy[1]
    # Perfectly confident and right: loss 0, accuracy 1.
    sure = np.where(np.eye(10, dtype=bool)[labels], 100.0, -100.0)[None]
    assert classification_scores(sure, labels)[0][0] == pytest.approx(0.0, abs=1e-12)
    assert classification_scores(sure, labels)[1][0] == 1.0


# ------------------------------------------------------------------------------- the config


@pytest.mark.parametrize(
    ("edits", "fragment"),
    [
        ({"data": {"name": "digit"}}, "data.name: expected one of 'spiral', 'digits', found "),
        ({"data": {"name": "digits", "batch_size": 5000}}, "data.batch_size: expected at most"),
        ({"data": {"name": "digits", "fitness": "loss"}}, "data.fitness: expected one of"),
        ({"data": {"name": "digits", "batsh_size": 5}}, "did you mean 'batch_size'"),
        (
            {"data": {"name": "digits"}, "function": {"name": "sphere"}},
            "data: expected a data set or a function",
        ),
    ],
)
def test_bad_data_sections_are_config_errors(edits: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:  # the data set's own checks: make_problem
        make_problem(from_dict(tiny_config(**edits)))
    message = str(caught.value)
    assert fragment in message and "\n" not in message
    if edits["data"].get("name") == "digit":
        assert "did you mean 'digits'?" in message


def test_a_bad_data_name_on_the_command_line_creates_no_run(tmp_path: Path) -> None:
    path = write_config(tmp_path / "bad.yaml", tiny_config(data={"name": "spirale"}))
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "did you mean 'spiral'?" in result.stderr
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------- evolution


def data_config(checkpoint: dict | None = None, **backend: object) -> dict:
    return tiny_config(
        checkpoint=checkpoint or {"every": 2},
        name="tiny-digits",
        generations=5,
        data={"name": "digits", "batch_size": 64, "eval_every": 2},
        policy={"hidden_sizes": [8], "activation": "tanh"},
        algorithm={"name": "openai_es", "population_size": 10, "sigma": 0.05},
        final_eval={"threshold": 0.5},
        backend=backend,
    )


def _columns(path: Path) -> list[dict]:
    keys = [*FITNESS_COLUMNS, "samples", "test_accuracy", "test_loss", "train_loss"]
    return [{k: line[k] for k in keys} for line in RunFolder(path).read_metrics()]


def _reference_accuracy(params: np.ndarray, hidden: int) -> float:
    """Test accuracy of a 64-hidden-10 tanh net, computed by hand, row by row."""
    features, labels = load("digits", "test")
    w1 = params[: 64 * hidden].reshape(64, hidden)
    b1 = params[64 * hidden : 65 * hidden]
    w2 = params[65 * hidden : 65 * hidden + hidden * 10].reshape(hidden, 10)
    b2 = params[65 * hidden + hidden * 10 :]
    right = 0
    for row, label in zip(features.astype(np.float32), labels, strict=True):
        right += int(np.argmax(np.tanh(row @ w1 + b1) @ w2 + b2) == label)
    return right / len(labels)


def test_a_chunk_scores_every_member_on_the_generation_minibatch() -> None:
    """What a worker computes: each member's minus cross-entropy on the rows named by
    (run seed, generation), whichever members share its chunk."""
    problem = make_problem(from_dict(data_config(kind="serial")))
    spec = problem.policy
    rng = np.random.default_rng(0)
    params = np.stack([spec.initial_params(rng) for _ in range(5)])
    bases = params.copy()
    generation = 3

    def chunk(rows: list[int]) -> Chunk:
        members = Members.build(np.array(rows), 0, 0.0)
        seeds = np.full((len(rows), 1), generation, dtype=np.uint32)
        return Chunk(np.array(rows), members, seeds)

    whole = evaluate_chunk(problem, bases, chunk([0, 1, 2, 3, 4]))
    features, labels = load("digits", "train")
    rows = minibatch_indices(7, generation, 64, len(labels))  # tiny_config's seed is 7
    for member in range(5):
        logits = spec.forward(params[member : member + 1], features[rows][None])
        expected = -classification_scores(logits, labels[rows])[0][0]
        assert whole.fitness[member] == expected
        alone = evaluate_chunk(problem, bases, chunk([member]))
        assert alone.fitness[0] == whole.fitness[member]
    assert whole.steps.tolist() == [64] * 5
    assert len(set(whole.fitness.tolist())) == 5


def test_data_runs_are_identical_serial_and_on_dask(tmp_path: Path, client_2workers) -> None:
    paths = {}
    for label, client, backend in [
        ("serial", None, {"kind": "serial"}),
        (
            "dask",
            client_2workers,
            {"kind": "dask", "start_after_s": 0, "placement": "cluster", "chunk_size": 3},
        ),
    ]:
        config = from_dict(data_config(**backend))
        result = run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True))
        paths[label] = result.path
    serial, dask = _columns(paths["serial"]), _columns(paths["dask"])
    assert serial == dask
    assert RunFolder(paths["dask"]).read_metrics()[0]["tasks"] == 4  # 11 members, 3 a task
    assert len(serial) == 5 and any(line["fitness_std"] > 0 for line in serial)
    # Every member of a generation sees the same 64 examples: samples count them.
    assert [line["samples"] for line in serial] == [11 * 64 * g for g in range(1, 6)]
    assert [line["samples"] == line["env_steps"] for line in serial] == [True] * 5
    # The solution's test scores every eval_every generations and at the last one.
    logged = [line["test_accuracy"] is not None for line in serial]
    assert logged == [False, True, False, True, True]
    summaries = [RunFolder(p).read_summary() for p in paths.values()]
    assert summaries[0]["test_accuracy"] == summaries[1]["test_accuracy"]
    summary = summaries[0]
    assert summary["data"] == "digits" and summary["env_id"] is None
    assert summary["final_eval_mean"] == summary["test_accuracy"]
    assert summary["final_eval_episodes"] == 360
    assert summary["test_accuracy"] == serial[-1]["test_accuracy"]
    assert summary["test_loss"] > 0 and summary["samples"] == 5 * 11 * 64
    assert summary["solved"] == (summary["test_accuracy"] >= 0.5)
    params = load_npz(paths["serial"] / "best.npz")["params"]
    assert summary["test_accuracy"] == pytest.approx(_reference_accuracy(params, 8), abs=1e-12)


def test_accuracy_fitness_and_a_confirmed_stop(tmp_path: Path) -> None:
    """Accuracy as the fitness; a target reached on a minibatch is confirmed on the
    whole training split before the run stops."""
    config = data_config(kind="serial")
    config["data"]["fitness"] = "accuracy"
    config["generations"] = 8
    config["stop"] = {"target_fitness": 0.0, "confirm_episodes": 1}
    path = run(from_dict(config), tmp_path, reporter=Reporter(quiet=True)).path
    folder = RunFolder(path)
    fitness = [line["fitness_max"] for line in folder.read_metrics()]
    assert all(0.0 <= f <= 1.0 and f * 64 == round(f * 64) for f in fitness)  # k / 64
    assert folder.read_summary()["stop_reason"] == "target_fitness"
    (confirm,) = [e for e in folder.read_events() if e["event"] == "confirm"]
    assert confirm["passed"] and 0.0 <= confirm["mean"] <= 1.0


def test_samples_on_env_and_function_runs(tmp_path: Path) -> None:
    env_run = run(from_dict(tiny_config(generations=2)), tmp_path, reporter=Reporter(quiet=True))
    lines = RunFolder(env_run.path).read_metrics()
    assert [line["samples"] for line in lines] == [line["env_steps"] for line in lines]
    assert lines[-1]["samples"] > 0 and "test_accuracy" not in lines[-1]
    function = tiny_config(generations=2, function={"name": "sphere", "dim": 5})
    function_run = run(from_dict(function), tmp_path, reporter=Reporter(quiet=True))
    lines = RunFolder(function_run.path).read_metrics()
    assert [line["samples"] for line in lines] == [line["evaluations"] for line in lines]


def test_replay_of_a_data_run_is_one_line(tmp_path: Path) -> None:
    path = run(from_dict(data_config(kind="serial")), tmp_path, reporter=Reporter(quiet=True)).path
    result = run_cli("replay", str(path), "--out", str(tmp_path / "x.gif"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no episodes to replay" in result.stderr
    assert not (tmp_path / "x.gif").exists()
    inspect = run_cli("inspect", str(path), "--json")
    assert json.loads(inspect.stdout)["test_accuracy"] is not None


def test_a_data_run_resumed_from_a_checkpoint_gives_the_same_numbers(tmp_path: Path) -> None:
    """A run cut short after its generation-2 checkpoint (later files removed, as if it
    had been killed there) continues to the same minibatches and test scores."""
    config = from_dict(data_config(kind="serial", checkpoint={"every": 2, "keep": 5}))
    path = run(config, tmp_path, reporter=Reporter(quiet=True)).path
    reference, reference_summary = _columns(path), RunFolder(path).read_summary()
    for name in ("summary.json", "best.npz"):
        (path / name).unlink()
    for checkpoint in (path / "checkpoints").glob("gen-00000[3-9].*"):
        checkpoint.unlink()
    lines = (path / "metrics.jsonl").read_text().splitlines(keepends=True)
    (path / "metrics.jsonl").write_text("".join(lines[:3]))
    resume(path, reporter=Reporter(quiet=True))
    resumed = [e for e in RunFolder(path).read_events() if e["event"] == "resume"]
    assert [e["generation"] for e in resumed] == [2]
    assert _columns(path) == reference
    assert RunFolder(path).read_summary()["test_accuracy"] == reference_summary["test_accuracy"]
