"""The env's single-core limit: which kernel each kind of env is measured with, and that
each gives a rate."""

from __future__ import annotations

import importlib.util

import pytest

from evo.bench.limits import describe, limit_kind, measure_limit
from evo.config import load_config

KINDS = {
    "configs/cartpole-es.yaml": "vector env",
    "configs/pendulum-es.yaml": "vector env",
    "configs/lunarlander-es.yaml": "single envs",
    "configs/racetrack-es.yaml": "race-track kernel",
    "configs/halfcheetah-ars.yaml": "mj_step",
    "configs/sphere-es.yaml": None,
    "configs/digits-es.yaml": None,
}


@pytest.mark.parametrize("path", sorted(KINDS))
def test_each_config_has_its_kind_of_limit(path: str) -> None:
    assert limit_kind(load_config(path)) == KINDS[path]


def _needs(kind: str | None) -> bool:
    if kind == "mj_step":
        return importlib.util.find_spec("mujoco") is not None
    if kind == "single envs":  # LunarLander
        return importlib.util.find_spec("Box2D") is not None
    return kind is not None


@pytest.mark.parametrize("path", [p for p, kind in sorted(KINDS.items()) if kind is not None])
def test_every_kind_measures_a_rate(path: str) -> None:
    config = load_config(path)
    kind = limit_kind(config)
    if not _needs(kind):
        pytest.skip(f"{config.env.id} needs an optional dependency")
    rate = measure_limit(config, lanes=4, min_cpu_s=0.02)
    assert rate > 0
    assert describe(kind, config.env.id, 4).endswith("4 lanes, fixed actions, no policy")


def test_lockstep_lanes_step_together() -> None:
    # A lockstep step of 64 lanes costs far less than 64 steps of one lane.
    config = load_config("configs/cartpole-es.yaml")
    one, many = (measure_limit(config, lanes, min_cpu_s=0.05) for lanes in (1, 64))
    assert many > 4 * one


def test_a_function_problem_has_no_env_limit() -> None:
    with pytest.raises(ValueError, match="no env limit"):
        measure_limit(load_config("configs/sphere-es.yaml"), lanes=1)
