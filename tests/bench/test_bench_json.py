"""`evo bench CONFIG --json`: one JSON document on stdout, its figures consistent."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

from evo.config import load_config
from tests.conftest import run_cli, tiny_config, write_config

TOP_KEYS = {
    "config",
    "algorithm",
    "population",
    "num_params",
    "workers",
    "threads",
    "cores",
    "repeats",
    "generations",
    "warmup",
    "serial",
    "dask",
    "ratio",
    "speedup",
    "speedup_repeats",
    "ceiling",
    "ceiling_repeats",
    "ratio_of_ceiling",
    "identical_fitness",
    "env_limit",
}
LIMIT_KEYS = {
    "env",
    "kind",
    "lanes",
    "lane_steps_per_cpu_s",
    "lane_steps_per_cpu_s_repeats",
    "per_worker_env_steps_per_s",
    "efficiency",
}


def _bench_json(*args: str) -> dict[str, Any]:
    result = run_cli("bench", *args, "--generations", "2", "--repeats", "1", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)  # the whole of stdout is the one document
    assert "fitness identical on both backends: yes" in result.stderr  # progress: stderr
    return figures


def _check_consistent(figures: dict[str, Any]) -> None:
    assert set(figures) == TOP_KEYS
    assert (figures["repeats"], figures["generations"], figures["warmup"]) == (1, 2, 0)
    assert figures["workers"] >= 1 and figures["cores"] >= 1 and figures["identical_fitness"]
    serial, dask, ratio = figures["serial"], figures["dask"], figures["ratio"]
    for key in ("evaluations_per_s", "env_steps_per_s"):
        assert serial[key] > 0 and dask[key] > 0
        assert serial[f"{key}_repeats"] == [serial[key]]  # one repeat: its median is itself
        assert math.isclose(ratio[key], dask[key] / serial[key])
    assert figures["ceiling"] > 0 and figures["ceiling_repeats"] == [figures["ceiling"]]
    assert math.isclose(
        figures["ratio_of_ceiling"], ratio["evaluations_per_s"] / figures["ceiling"]
    )
    limit = figures["env_limit"]
    assert set(limit) == LIMIT_KEYS
    assert limit["lanes"] >= 1 and limit["lane_steps_per_cpu_s"] > 0
    per_worker = dask["env_steps_per_s"] / figures["workers"]
    assert math.isclose(limit["per_worker_env_steps_per_s"], per_worker)
    assert math.isclose(limit["efficiency"], per_worker / limit["lane_steps_per_cpu_s"])
    assert limit["efficiency"] > 0


def test_cartpole_figures_are_one_consistent_document() -> None:
    figures = _bench_json("configs/cartpole-es.yaml")
    _check_consistent(figures)
    assert (figures["config"], figures["algorithm"]) == ("cartpole-es", "openai_es")
    limit = figures["env_limit"]
    assert (limit["env"], limit["kind"]) == ("CartPole-v1", "vector env")
    # A Dask task holds its share of the lanes: members x episodes over the tasks.
    dask = figures["dask"]
    members = round(dask["evaluations_per_s"] * dask["generation_ms"] / 1e3)
    episodes = load_config("configs/cartpole-es.yaml").env.episodes
    assert limit["lanes"] == math.ceil(members * episodes / dask["tasks_per_generation"])


@pytest.mark.slow  # a MuJoCo run on a cluster, and the raw mj_step limit
@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="needs mujoco")
def test_mujoco_figures_set_training_against_raw_mj_step() -> None:
    figures = _bench_json(
        "configs/halfcheetah-ars.yaml",
        "--set",
        "env.max_steps=100",
        "--set",
        "algorithm.directions=4",
        "--set",
        "algorithm.top_directions=2",
    )
    _check_consistent(figures)
    limit = figures["env_limit"]
    assert (limit["env"], limit["kind"]) == ("HalfCheetah-v5", "mj_step")


def test_a_function_problem_has_no_env_limit(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "sphere.yaml",
        {
            "name": "bench-sphere",
            "function": {"name": "sphere", "dim": 100},
            "algorithm": {"name": "openai_es", "population_size": 20, "sigma": 0.1},
        },
    )
    figures = _bench_json(str(path))
    assert figures["env_limit"] is None
    assert figures["serial"]["evaluations_per_s"] > 0
    assert figures["ratio"]["env_steps_per_s"] is None  # no env steps to compare


@pytest.mark.parametrize(
    "args, key",
    [
        (["env", "--json"], "--json"),
        (["suite", "--json"], "--json"),
        (["{config}", "--json", "--soak", "100"], "--json"),
        (["{config}", "--json", "--repeats", "0"], "--repeats"),
        (["{missing}", "--json"], "missing.yaml"),
        (["{gradient}", "--json"], "--json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], key: str) -> None:
    config = write_config(tmp_path / "tiny.yaml", tiny_config())
    paths = {
        "config": config,
        "missing": tmp_path / "missing.yaml",
        "gradient": "configs/cartpole-pg.yaml",
    }
    result = run_cli("bench", *(arg.format(**paths) for arg in args))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and key in result.stderr
    assert "Traceback" not in result.stderr
