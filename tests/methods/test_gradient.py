"""Gradient mode: data-parallel training and policy gradient are exact on any backend."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from evo.config import from_dict
from evo.experiment import resume, run
from evo.methods.gradient.trainer import GradientResult, ShardWork, combine, shard_blocks, tree_sum
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
    dask_config = {
        **config,
        "backend": {"kind": "dask", "start_after_s": 0, "placement": "cluster"},
    }
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
    two = run_in(
        tmp_path,
        "two",
        {**config, "backend": {"kind": "dask", "start_after_s": 0, "placement": "cluster"}},
        client_2workers,
    )
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


def sgd_config(**gradient: Any) -> dict[str, Any]:
    """Data-parallel training on the spiral, a few dozen small steps."""
    config = tiny_config(
        name="spiral-sgd",
        mode="gradient",
        generations=12,
        data={"name": "spiral", "eval_every": 4},
        policy={"hidden_sizes": [16], "activation": "relu"},
        gradient={
            "optimizer": "adam",
            "learning_rate": 0.01,
            "batch_size": 64,
            "shards": 8,
            **gradient,
        },
    )
    config.pop("algorithm")
    config.pop("env")
    return config


def test_data_parallel_training_is_identical_serial_and_on_1_or_2_workers(
    tmp_path: Path, client_1worker: Any, client_2workers: Any
) -> None:
    config = sgd_config()
    serial = run_in(tmp_path, "serial", config)
    dask_config = {
        **config,
        "backend": {"kind": "dask", "start_after_s": 0, "placement": "cluster"},
    }
    one = run_in(tmp_path, "one", dask_config, client_1worker)
    two = run_in(tmp_path, "two", dask_config, client_2workers)
    reference = last_checkpoint(serial)
    assert reference["state.params"].dtype == np.float64
    assert reference["state.generation"] == 12
    for path in (one, two):
        assert columns(path) == columns(serial)
        for key, value in reference.items():
            np.testing.assert_array_equal(last_checkpoint(path)[key], value, err_msg=key)
        assert (
            RunFolder(path).read_summary()["test_accuracy"]
            == RunFolder(serial).read_summary()["test_accuracy"]
        )
    metrics = RunFolder(two).read_metrics()
    assert [m["tasks"] for m in metrics] == [2] * 12
    # The data never travels: a round ships the parameters and a few integers per task.
    params_bytes = reference["state.params"].nbytes
    assert max(m["bytes_sent"] for m in metrics[1:]) < 4 * params_bytes + 16_000
    assert [m["test_accuracy"] is not None for m in metrics] == [
        (g + 1) % 4 == 0 for g in range(12)
    ]
    assert metrics[-1]["samples"] == 3 * 64 * 12  # forward-equivalents: 3 per example
    losses = [m["loss"] for m in metrics]
    assert losses[-1] < losses[0]  # it learns
    summary = RunFolder(serial).read_summary()
    assert 0.25 < summary["test_accuracy"] <= 1 and summary["algorithm"] == "adam"


def test_local_sgd_with_one_step_is_synchronous_sgd(tmp_path: Path) -> None:
    plain = {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 0.5}
    sync = run_in(tmp_path, "sync", sgd_config(**plain))
    local = run_in(tmp_path, "local", sgd_config(**plain, local_steps=1))
    for key, value in last_checkpoint(sync).items():
        np.testing.assert_array_equal(last_checkpoint(local)[key], value, err_msg=key)


def test_local_sgd_averages_the_replicas_models(tmp_path: Path) -> None:
    """Plain SGD with H local steps: after a round, the parameters are the mean of the
    shards' replicas, each trained H steps from the round's start on its own examples."""
    from evo.datasets import load
    from evo.methods import make_method as make_trainer
    from evo.methods.gradient.heads import softmax_cross_entropy
    from evo.problems import make_problem
    from evo.seeding import init_rng

    raw = {
        **sgd_config(optimizer="sgd", momentum=0.0, learning_rate=0.3, local_steps=3),
        "generations": 2,
    }
    path = run_in(tmp_path, "local", raw)
    config = from_dict(raw)
    problem = make_problem(config)
    trainer = make_trainer(config, problem)
    spec, task = trainer.spec, trainer.problem
    params = trainer.start(problem.policy.initial_params(init_rng(config.seed))).params
    for round_ in range(2):
        replicas = []
        for shard in range(8):
            lo, hi = task.shard_range(shard)
            inputs, labels = load("spiral", "train", lo, hi)
            theta = params.copy()
            for local in range(3):
                rows = task.batch_rows(shard, round_ * 3 + local)
                trace = spec.trace(theta, inputs[rows])
                _, d_out = softmax_cross_entropy(trace[-1], labels[rows])
                theta = theta - 0.3 * spec.backward(theta, trace, d_out) / len(rows)
            replicas.append(theta)
        params = np.mean(replicas, axis=0)
    reached = last_checkpoint(path)
    assert reached["state.generation"] == 2
    assert not np.allclose(reached["state.params"], trainer.start(params).params * 0)
    np.testing.assert_allclose(reached["state.params"], params, rtol=1e-10, atol=1e-12)
    assert RunFolder(path).read_metrics()[0]["samples"] == 3 * 64 * 3  # H steps a round


def test_a_gradient_run_folder_reads_like_an_evolution_run(tmp_path: Path) -> None:
    path = write_config(tmp_path / "pg.yaml", pg_config(generations=3))
    made = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert made.returncode == 0, made.stderr
    run_dir = made.stdout.strip()
    table = run_cli("inspect", run_dir)
    assert table.returncode == 0 and "reinforce_adam" in table.stdout
    figure = tmp_path / "pg.png"
    plotted = run_cli("plot", run_dir, "-o", str(figure))
    assert plotted.returncode == 0, plotted.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lineage = run_cli("inspect", run_dir, "--lineage")
    assert lineage.returncode == 2
    assert lineage.stderr.strip().endswith("has no population and no lineage")
    assert len(lineage.stderr.strip().splitlines()) == 1


def test_ppo_is_identical_serial_and_on_1_or_2_workers(
    tmp_path: Path, client_1worker: Any, client_2workers: Any
) -> None:
    """PPO keeps each block's episodes on the worker that played them; the minibatch
    steps still give the same bits wherever they run."""
    config = pg_config(generations=3)
    config["gradient"] = {
        **config["gradient"],
        "method": "ppo",
        "ppo_epochs": 2,
        "minibatches": 3,
        "learning_rate": 0.003,
    }
    serial = run_in(tmp_path, "serial", config)
    dask_config = {
        **config,
        "backend": {"kind": "dask", "start_after_s": 0, "placement": "cluster"},
    }
    one = run_in(tmp_path, "one", dask_config, client_1worker)
    two = run_in(tmp_path, "two", dask_config, client_2workers)
    for path in (one, two):
        assert columns(path) == columns(serial)
        for key, value in last_checkpoint(serial).items():
            np.testing.assert_array_equal(last_checkpoint(path)[key], value, err_msg=key)
    metrics = RunFolder(two).read_metrics()
    assert [m["optimizer_steps"] for m in metrics] == [6, 6, 6]
    assert int(last_checkpoint(serial)["state.opt_step"]) == 18
    # a stats task and 6 minibatch tasks per block and round
    assert [m["tasks"] for m in metrics] == [2 * 7] * 3
    assert RunFolder(serial).read_summary()["algorithm"] == "ppo_adam"
