"""Contract 1: the same config and seed give bit-identical numbers wherever evaluation runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from evo.config import from_dict, load_config
from evo.experiment import resume, run
from evo.reporting import Reporter
from evo.runlog import RunFolder, load_npz
from tests.conftest import FITNESS_COLUMNS, tiny_config

ALGORITHMS = {
    "openai_es": {"name": "openai_es", "population_size": 12, "sigma": 0.1},
    "ga": {"name": "ga", "population_size": 12, "truncation": 4, "elites": 2, "sigma": 0.1},
}


def fitness_columns(run_dir: Path) -> list[str]:
    """The fitness columns of metrics.jsonl, as the exact JSON text written."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.dumps({k: json.loads(line)[k] for k in FITNESS_COLUMNS}) for line in lines]


def run_variant(tmp_path: Path, algorithm: str, label: str, client=None, **backend) -> Path:
    config = from_dict(
        tiny_config(**{"algorithm": ALGORITHMS[algorithm], "generations": 4, "backend": backend})
    )
    result = run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True))
    return result.path


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_serial_and_dask_runs_are_identical(
    tmp_path: Path, algorithm: str, client_1worker, client_2workers
) -> None:
    runs = {
        "serial": run_variant(tmp_path, algorithm, "serial", kind="serial"),
        "serial-chunk-5": run_variant(tmp_path, algorithm, "serial5", kind="serial", chunk_size=5),
        "dask-1-worker": run_variant(tmp_path, algorithm, "d1", client=client_1worker, kind="dask"),
        "dask-2-workers": run_variant(
            tmp_path, algorithm, "d2", client=client_2workers, kind="dask"
        ),
        "dask-2-chunk-1": run_variant(
            tmp_path, algorithm, "d2c1", client=client_2workers, kind="dask", chunk_size=1
        ),
        "dask-2-chunk-7": run_variant(
            tmp_path, algorithm, "d2c7", client=client_2workers, kind="dask", chunk_size=7
        ),
    }
    reference = fitness_columns(runs["serial"])
    assert len(reference) == 4
    # Not a degenerate run: members differ within a generation.
    assert any(json.loads(line)["fitness_std"] > 0 for line in reference)
    reference_best = load_npz(runs["serial"] / "best.npz")["params"]
    reference_summary = RunFolder(runs["serial"]).read_summary()
    for label, path in runs.items():
        assert fitness_columns(path) == reference, label
        np.testing.assert_array_equal(load_npz(path / "best.npz")["params"], reference_best)
        summary = RunFolder(path).read_summary()
        assert summary["final_eval_mean"] == reference_summary["final_eval_mean"], label
        checkpoint = sorted((path / "checkpoints").glob("*.npz"))[-1]
        reference_checkpoint = sorted((runs["serial"] / "checkpoints").glob("*.npz"))[-1]
        for key, value in load_npz(reference_checkpoint).items():
            np.testing.assert_array_equal(
                load_npz(checkpoint)[key], value, err_msg=f"{label}: {key}"
            )
    metrics = RunFolder(runs["dask-2-chunk-1"]).read_metrics()
    members = 13 if algorithm == "openai_es" else 12  # ES evaluates its centre too
    assert metrics[0]["tasks"] == members  # chunk_size=1: a task a member


def test_different_seeds_differ(tmp_path: Path) -> None:
    a = run(from_dict(tiny_config(seed=1)), tmp_path / "a", reporter=Reporter(quiet=True)).path
    b = run(from_dict(tiny_config(seed=2)), tmp_path / "b", reporter=Reporter(quiet=True)).path
    assert fitness_columns(a) != fitness_columns(b)


def test_race_track_runs_are_identical_serial_and_on_dask(tmp_path: Path, client_2workers) -> None:
    """The lockstep (vector env) evaluation path keeps contract 1 too."""
    overrides = {
        "env": {"id": "envs/RaceTrack-v0", "episodes": 3, "common_seeds": True, "max_steps": 120},
        "algorithm": {"name": "openai_es", "population_size": 8, "sigma": 0.1},
        "generations": 2,
    }
    paths = []
    for label, client, backend in [
        ("serial", None, {"kind": "serial"}),
        (
            "dask",
            client_2workers,
            {"kind": "dask", "start_after_s": 0, "placement": "cluster", "chunk_size": 3},
        ),
    ]:
        config = from_dict(tiny_config(**overrides, backend=backend))
        paths.append(
            run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True)).path
        )
    assert fitness_columns(paths[0]) == fitness_columns(paths[1])
    first, second = (RunFolder(p).read_summary() for p in paths)
    assert first["final_eval_mean"] == second["final_eval_mean"]


def test_a_strategy_without_an_incumbent_stops_on_the_member_it_scored(tmp_path: Path) -> None:
    """GA with carried elites does not re-evaluate its solution: the saved policy must be the
    member that reached the target, not the previous generation's solution."""
    config = from_dict(
        tiny_config(
            algorithm={"name": "ga", "population_size": 12, "truncation": 3, "elite_mode": "carry"},
            stop={"target_fitness": 0.0, "confirm_episodes": 0},
        )
    )
    path = run(config, tmp_path, reporter=Reporter(quiet=True)).path
    assert RunFolder(path).read_summary()["stop_reason"] == "target_fitness"
    # the initial state's checkpoint, then the one after the generation that stopped the run
    initial, checkpoint = sorted((path / "checkpoints").glob("*.npz"))
    assert initial.name == "gen-000000.npz"
    best_member = load_npz(checkpoint)["state.best_params"]
    np.testing.assert_array_equal(load_npz(path / "best.npz")["params"], best_member)


NORMALISED = {
    "policy.normalize_observations": True,
    "policy.observation_clip": 3.0,
    "generations": 4,
    "checkpoint": {"every": 2, "keep": 10},
}


def run_normalised(tmp_path: Path, label: str, client=None, **backend) -> Path:
    config = from_dict(tiny_config(**NORMALISED, backend=backend))
    return run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True)).path


def test_normalised_runs_are_identical_on_any_backend_and_chunking(
    tmp_path: Path, client_1worker, client_2workers
) -> None:
    """Each generation plays with the statistics frozen at its start: a member's fitness and
    the merged sums never depend on its chunk or worker."""
    runs = {
        "serial": run_normalised(tmp_path, "serial", kind="serial"),
        "serial-chunk-3": run_normalised(tmp_path, "serial3", kind="serial", chunk_size=3),
        "dask-1-worker": run_normalised(tmp_path, "d1", client=client_1worker, kind="dask"),
        "dask-2-workers": run_normalised(tmp_path, "d2", client=client_2workers, kind="dask"),
        "dask-2-chunk-4": run_normalised(
            tmp_path, "d2c4", client=client_2workers, kind="dask", chunk_size=4
        ),
    }
    reference = fitness_columns(runs["serial"])
    plain = fitness_columns(run_variant(tmp_path, "openai_es", "plain", kind="serial"))
    assert reference != plain[: len(reference)]  # the normaliser changes what members do
    best = load_npz(runs["serial"] / "best.npz")
    assert int(best["normalization.count"]) > 0
    for label, path in runs.items():
        assert fitness_columns(path) == reference, label
        for key, value in load_npz(path / "best.npz").items():
            np.testing.assert_array_equal(value, best[key], err_msg=f"{label}: {key}")


def test_a_normalised_run_resumed_from_a_checkpoint_is_identical(tmp_path: Path) -> None:
    reference = run_normalised(tmp_path, "reference", kind="serial")
    stopped = tmp_path / "stopped"
    shutil.copytree(reference, stopped)
    for name in ("summary.json", "best.npz"):
        (stopped / name).unlink()
    for path in (stopped / "checkpoints").iterdir():
        if int(path.stem.removeprefix("gen-")) > 2:
            path.unlink()
    resume(stopped, reporter=Reporter(quiet=True))
    assert fitness_columns(stopped) == fitness_columns(reference)
    for key, value in load_npz(reference / "best.npz").items():
        np.testing.assert_array_equal(load_npz(stopped / "best.npz")[key], value, err_msg=key)


CLASSIC_CONTROL = {
    # shipped configs, cut short; and Acrobot, which no shipped config plays
    "cartpole-es": ["generations=2", "final_eval.episodes=10"],
    "pendulum-es": ["generations=2", "final_eval.episodes=6", "algorithm.population_size=16"],
    "acrobot": [
        "env.id=Acrobot-v1",
        "generations=2",
        "final_eval.episodes=6",
        "env.max_steps=200",
        "stop.target_fitness=0",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASSIC_CONTROL))
def test_classic_control_runs_are_identical_serial_and_on_1_or_2_workers(
    tmp_path: Path, name: str, client_1worker, client_2workers
) -> None:
    """The lockstep kernels of the classic-control envs keep contract 1."""
    source = "cartpole-es" if name == "acrobot" else name
    overrides = CLASSIC_CONTROL[name]
    paths = {}
    for label, client, backend in [
        ("serial", None, ["backend.kind=serial"]),
        (
            "dask-1",
            client_1worker,
            ["backend.kind=dask", "backend.start_after_s=0", "backend.placement=cluster"],
        ),
        (
            "dask-2-chunk-5",
            client_2workers,
            [
                "backend.kind=dask",
                "backend.start_after_s=0",
                "backend.placement=cluster",
                "backend.chunk_size=5",
            ],
        ),
    ]:
        config = load_config(source, [*overrides, *backend])
        result = run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True))
        paths[label] = result.path
    reference = fitness_columns(paths["serial"])
    assert len(reference) == 2 and any(json.loads(line)["fitness_std"] > 0 for line in reference)
    summary = RunFolder(paths["serial"]).read_summary()
    for label, path in paths.items():
        assert fitness_columns(path) == reference, label
        assert RunFolder(path).read_summary()["final_eval_mean"] == summary["final_eval_mean"]
