"""The MuJoCo locomotion runs: the lockstep version in evo's episodes, ARS's reward shift, and
the shipped ARS configs (the same numbers serial, on two workers and through gymnasium)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

from envs.locomotion import TASKS
from evo.config import from_dict, load_config
from evo.errors import ConfigError
from evo.experiment import run
from evo.problems import make_problem
from evo.problems.normalization import ObservationStats, ObservationTally, normalizer_from
from evo.problems.rollout import run_episodes
from evo.reporting import Reporter
from evo.runlog import RunFolder, load_npz
from evo.seeding import episode_seeds, final_seeds
from tests.backends.test_determinism import fitness_columns

CONFIGS = ["swimmer-ars", "hopper-ars", "hopper-cma", "halfcheetah-ars", "walker2d-ars"]


def ars_config(env_id: str = "Hopper-v5", **env: Any) -> dict[str, Any]:
    """A short ARS V2-t run on ``env_id``: linear policy, normalised, clipped actions."""
    return {
        "name": "locomotion",
        "seed": 3,
        "generations": 2,
        "env": {"id": env_id, "episodes": 1, "max_steps": 100, **env},
        "policy": {"kind": "linear", "normalize_observations": True, "action_bounds": "clip"},
        "algorithm": {"name": "ars", "directions": 4, "top_directions": 2, "noise": 0.5},
        "backend": {"kind": "serial"},
        "final_eval": {"episodes": 3},
    }


@pytest.mark.parametrize(
    ("env", "vectorized"),
    [
        ({}, True),
        ({"fast": False}, False),
        ({"kwargs": {"healthy_reward": 2.0}}, True),
        ({"kwargs": {"xml_file": "hopper.xml"}}, False),  # gymnasium plays what it is not sure of
    ],
)
def test_the_lockstep_version_is_played_where_it_is_exact(env: dict, vectorized: bool) -> None:
    problem = make_problem(from_dict(ars_config(**env)))
    assert problem.vectorized is vectorized
    assert problem.policy.bounds == "clip" and problem.policy.linear


def bounded(config: dict[str, Any], bounds: str) -> dict[str, Any]:
    """``config`` with ``policy.action_bounds`` set to ``bounds``."""
    return {**config, "policy": {**config["policy"], "action_bounds": bounds}}


@pytest.mark.parametrize("bounds", ["clip", "raw"])
@pytest.mark.parametrize("env_id", sorted(TASKS))
def test_episodes_are_the_same_bits_through_gymnasium(env_id: str, bounds: str) -> None:
    """Returns, steps and the observation sums of a chunk: the lockstep version or a pool
    of gymnasium's envs, for the same members, seeds and normaliser; raw actions (far
    outside the box here) clamped by the simulator alike."""
    fast = make_problem(from_dict(bounded(ars_config(env_id), bounds)))
    slow = make_problem(from_dict(bounded(ars_config(env_id, fast=False), bounds)))
    assert fast.vectorized and not slow.vectorized and fast.policy.bounds == bounds
    rng = np.random.default_rng(0)
    scale = 0.3 if bounds == "clip" else 3.0
    params = (rng.standard_normal((4, fast.policy.num_params)) * scale).astype(np.float32)
    seeds = episode_seeds(5, 0, np.arange(4), 2)
    dim = fast.policy.obs_dim
    normalizer = ObservationStats(rng.standard_normal(dim), np.full(dim, 4.0), 2).normalizer()
    played = []
    for problem in (fast, slow):
        tally = ObservationTally(8, dim)
        returns, steps, errors = run_episodes(problem, params, seeds, normalizer, tally)
        assert errors == {}
        played.append((returns, steps, tally.sum, tally.sumsq, tally.count))
    for fast_part, slow_part in zip(*played, strict=True):
        np.testing.assert_array_equal(fast_part, slow_part)
    assert len(set(played[0][0].ravel().tolist())) == 8  # eight different episodes


def play(env: gymnasium.Env, problem: Any, best: dict[str, np.ndarray], seed: int) -> float:
    """One episode of ``best.npz``'s policy in a plain gymnasium loop: its return."""
    normalizer = normalizer_from(best)
    obs, _ = env.reset(seed=int(seed))
    total = 0.0
    while True:
        fed = normalizer(np.asarray(obs)[None])[None]
        action = problem.policy.act(best["params"][None], fed)[0, 0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            return total


def test_the_reward_shift_is_in_the_strategys_fitness_only(tmp_path: Path) -> None:
    """ARS's shift: the strategy is told return - shift * steps; the logged fitness, the
    best so far, the stop rule and the final evaluation see the env's own returns."""
    paths = {}
    for shift in (0.0, 1.0):
        config = from_dict(ars_config(reward_shift=shift))
        paths[shift] = run(config, tmp_path / str(shift), reporter=Reporter(quiet=True)).path
    plain, shifted = RunFolder(paths[0.0]), RunFolder(paths[1.0])
    first = plain.read_lineage(1)
    fitness, steps = first["fitness"], first["steps"]
    assert len(set(steps.tolist())) > 1  # some Hoppers fell: the shift is not a constant
    # The first generation is the same members on the same episodes, logged unshifted.
    np.testing.assert_array_equal(shifted.read_lineage(1)["fitness"], fitness)
    np.testing.assert_array_equal(shifted.read_lineage(1)["steps"], steps)
    for key in ("fitness_max", "best_so_far"):  # the best so far is judged unshifted too
        assert shifted.read_metrics()[0][key] == plain.read_metrics()[0][key] == fitness.max()
    # ARS's sigma_R is the spread of the kept (top 2 of 4 directions) returns it was told.
    for folder, told in ((plain, fitness), (shifted, fitness - 1.0 * steps)):
        plus, minus = told[1::2], told[2::2]
        kept = np.argsort(-np.maximum(plus, minus), kind="stable")[:2]
        used = np.concatenate([plus[kept], minus[kept]])
        assert folder.read_metrics()[0]["return_std"] == pytest.approx(used.std(), rel=1e-12)
    # So the centres part, and each final evaluation is the env's own return of its policy.
    problem = make_problem(from_dict(ars_config()))
    env = gymnasium.make("Hopper-v5", max_episode_steps=100)
    finals = []
    for path in paths.values():
        best = load_npz(path / "best.npz")
        returns = [play(env, problem, best, seed) for seed in final_seeds(3)]
        summary = RunFolder(path).read_summary()
        assert summary["final_eval_mean"] == np.mean(returns)
        finals.append(best["params"])
    assert not np.array_equal(*finals)


@pytest.mark.parametrize("name", CONFIGS)
def test_each_config_runs_the_same_serial_on_two_workers_and_through_gymnasium(
    name: str, tmp_path: Path, client_2workers: Any
) -> None:
    """Two generations of the shipped config (episodes cut at 40 steps to stay short)."""
    short = ["generations=2", "env.max_steps=40", "final_eval.episodes=2"]
    variants = {
        "serial": (["backend.kind=serial"], None),
        "two-workers": (
            ["backend.kind=dask", "backend.start_after_s=0", "backend.placement=cluster"],
            client_2workers,
        ),
        "gymnasium": (["backend.kind=serial", "env.fast=false"], None),
    }
    paths = {}
    for label, (overrides, client) in variants.items():
        config = load_config(name, [*short, *overrides])
        assert config.policy.kind == "linear" and config.algorithm.name in ("ars", "cma_es")
        result = run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True))
        paths[label] = result.path
    reference = fitness_columns(paths["serial"])
    assert len(reference) == 2 and json.loads(reference[0])["fitness_std"] > 0
    summary = RunFolder(paths["serial"]).read_summary()
    for label, path in paths.items():
        assert fitness_columns(path) == reference, label
        assert RunFolder(path).read_summary()["final_eval_mean"] == summary["final_eval_mean"]
        np.testing.assert_array_equal(
            load_npz(path / "best.npz")["params"], load_npz(paths["serial"] / "best.npz")["params"]
        )


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"policy": {"action_bounds": "clamp"}}, "policy.action_bounds: expected one of 'tanh'"),
        ({"env": {"fast": "auto"}}, "env.fast: expected"),
        ({"env": {"reward_shift": "one"}}, "env.reward_shift: expected"),
    ],
)
def test_bad_values_of_the_new_keys_are_config_errors(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(overrides)
    assert str(caught.value).startswith(fragment), caught.value
