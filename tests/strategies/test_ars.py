"""ARS: the members of Algorithm 1, its update against a direct computation, its config,
and runs on CartPole with the linear policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evo import experiment
from evo.config import ConfigError, from_dict, load_config, to_dict
from evo.reporting import Reporter
from evo.strategies.ars import ARS, ARSConfig
from tests.conftest import REPO, run_cli

NUM_PARAMS = 7
TARGET = np.linspace(-1.0, 2.0, NUM_PARAMS)


def toy_return(params: np.ndarray) -> np.ndarray:
    """A concave "return" with its peak at TARGET."""
    return -np.sum((params.astype(np.float64) - TARGET) ** 2, axis=-1)


def directions_of(population) -> np.ndarray:
    """delta_k of each pair, its slice of the noise table built again from the table's
    definition (PCG64 float32 normals from the table's seed)."""
    table = population.noise
    values = np.random.Generator(np.random.PCG64(table.seed)).standard_normal(
        table.size, dtype=np.float32
    )
    offsets = population.members.noise_offset[1::2]
    return np.stack([values[offset : offset + NUM_PARAMS] for offset in offsets])


def test_members_are_the_centre_then_mirrored_pairs() -> None:
    strategy = ARS(ARSConfig(directions=4, noise=0.1))
    centre = np.arange(NUM_PARAMS, dtype=np.float32)
    state = strategy.init(np.random.default_rng(0), centre)
    population, _ = strategy.ask(np.random.default_rng(1), state)
    assert population.size == 2 * 4 + 1 == strategy.config.population_size + 1
    assert population.incumbent
    params = population.params()
    np.testing.assert_array_equal(params[0], centre)
    deltas = directions_of(population)
    step = np.float32(0.1) * deltas
    np.testing.assert_array_equal(params[1::2], centre + step)
    np.testing.assert_array_equal(params[2::2], centre - step)


@pytest.mark.parametrize("top", [None, 3, 1])
def test_update_is_algorithm_1(top: int | None) -> None:
    """Line 7, M + alpha / (b sigma_R) sum_k (r+ - r-) delta_(k), written out in numpy."""
    alpha, nu, directions = 0.05, 0.2, 6
    strategy = ARS(ARSConfig(directions=directions, step_size=alpha, noise=nu, top_directions=top))
    centre = np.zeros(NUM_PARAMS, dtype=np.float32)
    state = strategy.init(np.random.default_rng(0), centre)
    for generation in range(3):
        population, state = strategy.ask(np.random.default_rng([5, generation]), state)
        fitness = toy_return(population.params())
        deltas = directions_of(population)
        # the policies of line 5, pi_{k,+-} = M +- nu delta_k, in the members' float32
        plus = toy_return(state.centre + np.float32(nu) * deltas)
        minus = toy_return(state.centre - np.float32(nu) * deltas)
        deltas, theta = deltas.astype(np.float64), state.centre.astype(np.float64)
        np.testing.assert_array_equal(fitness[1:], np.stack([plus, minus], 1).reshape(-1))
        b = directions if top is None else top
        best = np.argsort(-np.maximum(plus, minus), kind="stable")[:b]  # line 6
        sigma_r = np.std(np.concatenate([plus[best], minus[best]]))
        expected = theta + alpha / (b * sigma_r) * ((plus[best] - minus[best]) @ deltas[best])
        state, metrics = strategy.tell(state, population, fitness)
        np.testing.assert_allclose(state.centre, expected, rtol=1e-6, atol=1e-7)
        assert metrics["return_std"] == pytest.approx(sigma_r, rel=1e-12)
    assert toy_return(state.centre) > toy_return(centre)


@pytest.mark.parametrize("top", [None, 2])
def test_without_the_centre_the_pairs_and_the_update_are_the_same(top: int | None) -> None:
    """evaluate_centre false: the same mirrored pairs without member 0, the same step."""
    settings = {"directions": 4, "noise": 0.1, "step_size": 0.05, "top_directions": top}
    with_centre = ARS(ARSConfig(**settings))
    without = ARS(ARSConfig(**settings, evaluate_centre=False))
    centre = np.linspace(0.5, -0.5, NUM_PARAMS).astype(np.float32)
    state = with_centre.init(np.random.default_rng(0), centre)
    for generation in range(3):
        full, _ = with_centre.ask(np.random.default_rng([7, generation]), state)
        pairs, _ = without.ask(np.random.default_rng([7, generation]), state)
        assert pairs.size == 2 * 4 == full.size - 1 and not pairs.incumbent
        np.testing.assert_array_equal(pairs.params(), full.params()[1:])
        fitness = toy_return(full.params())
        expected, _ = with_centre.tell(state, full, fitness)
        state, metrics = without.tell(state, pairs, fitness[1:])
        np.testing.assert_array_equal(state.centre, expected.centre)
        assert metrics["update_norm"] > 0


def test_a_run_without_the_centre_plays_only_the_pairs(tmp_path: Path) -> None:
    """2N episodes a generation; the stop rule confirms the updated centre on fresh ones."""
    config = load_config(
        REPO / "evo" / "configs" / "cartpole-ars.yaml",
        ["backend.kind=serial", "algorithm.evaluate_centre=false", "final_eval.episodes=10"],
    )
    result = experiment.run(config, tmp_path, reporter=Reporter(quiet=True))
    rows = [json.loads(line) for line in (result.path / "metrics.jsonl").read_text().splitlines()]
    assert [row["episodes"] for row in rows] == [16 * row["generation"] for row in rows]
    assert all(row["solution_fitness"] is None for row in rows)
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    confirms = [event for event in events if event["event"] == "confirm"]
    # stopped on the target: the last generation's best member reached it, the centre too
    assert result.summary["stop_reason"] == "target_fitness"
    assert rows[-1]["fitness_max"] >= 500 and confirms[-1]["passed"]
    assert confirms[-1]["generation"] == rows[-1]["generation"]
    assert result.summary["final_eval_mean"] >= 475


@pytest.mark.parametrize("paired", [False, True])
def test_paired_seeds_give_a_pair_the_same_episodes(tmp_path: Path, paired: bool) -> None:
    """env.paired_seeds: with a tiny noise, a pair's two returns differ by the perturbation
    alone (nearly equal); without it, by their different Pendulum starts too."""
    config = load_config(
        REPO / "evo" / "configs" / "pendulum-ars.yaml",
        [
            "backend.kind=serial",
            "generations=1",
            "env.common_seeds=false",
            f"env.paired_seeds={str(paired).lower()}",
            "algorithm.noise=1e-6",
            "final_eval.episodes=0",
        ],
    )
    result = experiment.run(config, tmp_path, reporter=Reporter(quiet=True))
    with np.load(result.path / "lineage" / "000001.npz", allow_pickle=False) as lineage:
        fitness = lineage["fitness"]
    gaps = np.abs(fitness[1::2] - fitness[2::2])
    spread = np.ptp(fitness[1::2])  # the pairs' first members: different episodes
    assert spread > 10
    assert (gaps.max() < 1.0) if paired else (gaps.min() > 1.0)


def test_equal_returns_leave_the_centre_where_it_is() -> None:
    strategy = ARS(ARSConfig(directions=3))
    state = strategy.init(np.random.default_rng(0), np.ones(NUM_PARAMS, np.float32))
    population, state = strategy.ask(np.random.default_rng(1), state)
    after, metrics = strategy.tell(state, population, np.full(population.size, 4.0))
    np.testing.assert_array_equal(after.centre, state.centre)
    assert metrics["return_std"] == 0.0 and metrics["update_norm"] == 0.0


def test_a_failed_side_counts_as_the_worst_return() -> None:
    strategy = ARS(ARSConfig(directions=3, top_directions=2))
    state = strategy.init(np.random.default_rng(0), np.zeros(NUM_PARAMS, np.float32))
    population, state = strategy.ask(np.random.default_rng(1), state)
    fitness = np.array([0.0, 5.0, np.nan, 1.0, 2.0, 3.0, 0.5])
    worst = np.array([0.0, 5.0, 0.5, 1.0, 2.0, 3.0, 0.5])
    failed, _ = strategy.tell(state, population, fitness)
    as_worst, _ = strategy.tell(state, population, worst)
    np.testing.assert_array_equal(failed.centre, as_worst.centre)
    assert np.all(np.isfinite(failed.centre))


def test_population_size_is_derived_from_the_directions() -> None:
    config = from_dict({"algorithm": {"name": "ars", "directions": 5, "top_directions": 2}})
    assert config.algorithm.population_size == 10
    assert "population_size" not in to_dict(config)["algorithm"]
    assert from_dict(to_dict(config)) == config
    with pytest.raises(ConfigError, match=r"algorithm\.population_size: unknown key"):
        from_dict({"algorithm": {"name": "ars", "population_size": 10}})
    with pytest.raises(ConfigError, match=r"algorithm\.top_directions: expected at most"):
        from_dict({"algorithm": {"name": "ars", "directions": 4, "top_directions": 5}})


def test_a_short_cartpole_run_learns(tmp_path: Path) -> None:
    """Three generations of the shipped config, serial: the mean return climbs far."""
    config = load_config(
        REPO / "evo" / "configs" / "cartpole-ars.yaml",
        ["backend.kind=serial", "generations=3", "final_eval.episodes=10"],
    )
    result = experiment.run(config, tmp_path, reporter=Reporter(quiet=True))
    lines = (result.path / "metrics.jsonl").read_text().splitlines()
    first, last = (json.loads(lines[i])["fitness_mean"] for i in (0, -1))
    # reached: 35.8 -> 248.5, held-out 500; M = 0 balances about 9 steps
    assert last - first >= 100, f"mean return {first} -> {last}"
    assert result.summary["final_eval_mean"] >= 300


@pytest.mark.slow
def test_cartpole_config_solves_on_the_embedded_cluster(tmp_path: Path) -> None:
    """>= 475 over 100 fresh episodes, as the README's command runs it."""
    result = run_cli(
        "run", str(REPO / "evo" / "configs" / "cartpole-ars.yaml"), "--runs-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.splitlines()[-1]) / "summary.json").read_text())
    assert summary["final_eval_episodes"] == 100
    assert summary["solved"] and summary["final_eval_mean"] >= 475


@pytest.mark.slow
def test_pendulum_config_reaches_its_threshold(tmp_path: Path) -> None:
    """>= -200 over 100 fresh episodes (about four minutes on two cores)."""
    result = run_cli(
        "run",
        str(REPO / "evo" / "configs" / "pendulum-ars.yaml"),
        "--runs-dir",
        str(tmp_path),
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.splitlines()[-1]) / "summary.json").read_text())
    assert summary["final_eval_episodes"] == 100 and summary["final_eval_mean"] >= -200
