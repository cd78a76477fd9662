"""Gradient mode: data-parallel training and policy gradient are exact on any backend."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from evo.config import from_dict
from evo.gradient.trainer import GradientResult, ShardWork, combine, shard_blocks, tree_sum
from evo.loop import resume, run
from evo.reporting import Reporter
from evo.runlog import RunFolder, load_npz
from tests.conftest import FITNESS_COLUMNS, run_cli, tiny_config, write_config

GRADIENT_COLUMNS = [*FITNESS_COLUMNS, "loss", "gradient_norm", "update_norm", "samples"]


def columns(run_dir: Path) -> list[dict[str, Any]]:
    """The numbers of every round that must not depend on where it ran."""
    return [{k: row.get(k) for k in GRADIENT_COLUMNS} for row in RunFolder(run_dir).read_metrics()]


def last_checkpoint(run_dir: Path) -> dict[str, np.ndarray]:
    return load_npz(sorted((run_dir / "checkpoints").glob("*.npz"))[-1])


def pg_config(**overrides: Any) -> dict[str, Any]:
    """REINFORCE on CartPole, a few small rounds."""
    config = tiny_config(
        name="pg",
        mode="gradient",
        generations=4,
        gradient={"optimizer": "adam", "learning_rate": 0.02, "batch_size": 8, "shards": 4},
    )
    config.pop("algorithm")
    for key, value in overrides.items():
        config[key] = value
    return config


def run_in(tmp_path: Path, label: str, config: dict[str, Any], client: Any = None) -> Path:
    result = run(from_dict(config), tmp_path / label, client=client, reporter=Reporter(quiet=True))
    return result.path


def test_tree_sum_of_aligned_blocks_is_the_whole_tree() -> None:
    """Blocks of 1, 2, 4 or 8 shards, summed then combined, give the bits of the full tree."""
    rng = np.random.default_rng(0)
    parts = [
        GradientResult(grad=rng.standard_normal(50) * 10.0**k, loss=float(k), count=3)
        for k in range(8)
    ]
    whole = combine(parts)
    for threads in (1, 2, 3, 4, 8, 16):
        blocks = shard_blocks(8, threads, round_=0)
        assert [b.first for b in blocks] == sorted(b.first for b in blocks)
        partial = [combine(parts[b.first : b.last]) for b in blocks]
        np.testing.assert_array_equal(combine(partial).grad, whole.grad)
        assert combine(partial).count == 24
    # and a left-to-right sum differs in the last bits: the fixed tree is what makes it exact
    assert not np.array_equal(sum(p.grad for p in parts), tree_sum([p.grad for p in parts]))
    assert shard_blocks(8, 3, 5) == [ShardWork(0, 4, 5), ShardWork(4, 8, 5)]


def test_policy_gradient_is_identical_serial_and_on_1_or_2_workers(
    tmp_path: Path, client_1worker: Any, client_2workers: Any
) -> None:
    config = pg_config()
    serial = run_in(tmp_path, "serial", config)
    dask_config = {**config, "backend": {"kind": "dask"}}
    one = run_in(tmp_path, "one", dask_config, client_1worker)
    two = run_in(tmp_path, "two", dask_config, client_2workers)
    reference = columns(serial)
    assert len(reference) == 4
    assert len({row["fitness_mean"] for row in reference}) > 1  # the policy changes
    assert RunFolder(two).read_metrics()[0]["tasks"] == 2  # a block of shards per worker
    assert RunFolder(one).read_metrics()[0]["tasks"] == 1
    for path in (one, two):
        assert columns(path) == reference
        for key, value in last_checkpoint(serial).items():
            np.testing.assert_array_equal(last_checkpoint(path)[key], value, err_msg=key)
        assert (
            RunFolder(path).read_summary()["final_eval_mean"]
            == (RunFolder(serial).read_summary()["final_eval_mean"])
        )
    state = last_checkpoint(serial)
    assert state["state.params"].dtype == np.float64
    metrics = RunFolder(serial).read_metrics()
    assert metrics[-1]["episodes"] == 8 and metrics[-1]["mode"] == "gradient"
    steps = [m["env_steps"] for m in metrics]
    assert steps == sorted(steps) and steps[0] >= 8 * 8  # 8 episodes of at least 8 steps


def test_policy_gradient_on_the_race_track_continuous_and_vectorised(
    tmp_path: Path, client_2workers: Any
) -> None:
    config = pg_config(
        env={"id": "envs/RaceTrack-v0", "max_steps": 60},
        generations=2,
        final_eval={"episodes": 2},
    )
    serial = run_in(tmp_path, "serial", config)
    two = run_in(tmp_path, "two", {**config, "backend": {"kind": "dask"}}, client_2workers)
    assert columns(two) == columns(serial)
    metrics = RunFolder(serial).read_metrics()
    assert all(np.isfinite(m["loss"]) for m in metrics)
    assert metrics[0]["fitness_std"] > 0  # sampled actions: the tracks' returns differ


def test_a_gradient_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    config = pg_config(generations=6, checkpoint={"every": 2, "keep": 5})
    reference = run_in(tmp_path, "reference", config)
    interrupted = tmp_path / "interrupted" / reference.name
    shutil.copytree(reference, interrupted)
    (interrupted / "summary.json").unlink()
    (interrupted / "best.npz").unlink()
    for checkpoint in (interrupted / "checkpoints").iterdir():
        if not checkpoint.name.startswith("gen-000002"):
            checkpoint.unlink()
    resumed = resume(interrupted, reporter=Reporter(quiet=True))
    assert columns(resumed.path) == columns(reference)
    np.testing.assert_array_equal(
        load_npz(interrupted / "best.npz")["params"], load_npz(reference / "best.npz")["params"]
    )
    events = [e["event"] for e in RunFolder(interrupted).read_events()]
    assert "resume" in events


def test_gradient_config_errors_are_one_line(tmp_path: Path) -> None:
    bad = [
        ({"gradient": {"shards": 3, "batch_size": 9}}, "gradient.shards: expected a power of two"),
        ({"gradient": {"shards": 4, "batch_size": 10}}, "gradient.batch_size: expected a multiple"),
        ({"gradient": {"optimizer": "adamw"}}, "did you mean 'adam'"),
        ({"function": {"name": "sphere", "dim": 3}}, "mode: expected evolution"),
    ]
    for extra, message in bad:
        config = pg_config(**extra)
        result = run_cli(
            "run",
            str(write_config(tmp_path / "bad.yaml", config)),
            "--runs-dir",
            str(tmp_path / "runs"),
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "runs").exists()
