"""PGPE: one update against the paper's equations computed directly, and the 10-D sphere."""

from __future__ import annotations

import numpy as np
import pytest

from evo.config import ConfigError, from_dict
from evo.noise import noise
from evo.strategies.pgpe import PGPE, PGPEConfig
from evo.strategies.shaping import centered_ranks


def sphere(x: np.ndarray) -> np.ndarray:
    return np.sum(x.astype(np.float64) ** 2, axis=-1)


def test_members_are_symmetric_pairs_around_the_centre() -> None:
    strategy = PGPE(PGPEConfig(population_size=4, stdev_init=0.3))
    state = strategy.init(np.random.default_rng(0), np.array([1.0, -2.0, 0.5], np.float32))
    population, _ = strategy.ask(np.random.default_rng(1), state)
    params = population.params()
    assert population.incumbent and population.size == 5
    np.testing.assert_array_equal(params[0], state.centre.astype(np.float32))
    for k in (1, 3):
        offset = population.members.noise_offset[k]
        assert population.members.noise_offset[k + 1] == offset
        eps = 0.3 * noise(population.noise, offset, 3).astype(np.float64)
        np.testing.assert_allclose(params[k], state.centre + eps, rtol=1e-6)
        np.testing.assert_allclose(params[k + 1], state.centre - eps, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["clipup", "adam"])
def test_one_update_follows_the_paper(optimizer: str) -> None:
    config = PGPEConfig(
        population_size=6,
        center_learning_rate=0.1,
        stdev_init=0.5,
        stdev_learning_rate=0.2,
        stdev_max_change=0.2,
        optimizer=optimizer,
    )
    strategy = PGPE(config)
    centre = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    state = strategy.init(np.random.default_rng(0), centre)
    population, state = strategy.ask(np.random.default_rng(7), state)
    fitness = np.array([0.0, 3.0, -1.0, 2.0, 5.0, -4.0, 1.5])
    after, _ = strategy.tell(state, population, fitness)

    # Sehnke et al. (2010), symmetric sampling, with centred ranks r (baseline 0).
    sigma = np.full(4, 0.5)
    r = centered_ranks(fitness[1:])
    offsets = population.members.noise_offset[1::2]
    eps = np.array([sigma * noise(population.noise, o, 4).astype(np.float64) for o in offsets])
    r_plus, r_minus = r[0::2], r[1::2]
    grad_mu = ((r_plus - r_minus) / 2) @ eps / 3
    grad_sigma = ((r_plus + r_minus) / 2) @ ((eps**2 - sigma**2) / sigma) / 3
    if optimizer == "clipup":  # first step from rest: alpha g/|g|, speed below 2 alpha
        step = 0.1 * grad_mu / np.linalg.norm(grad_mu)
    else:  # Adam's bias-corrected first step: lr * g / (|g| + epsilon / sqrt(1 - beta2))
        step = 0.1 * grad_mu / (np.abs(grad_mu) + 1e-8 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(after.centre, centre + step, rtol=1e-10)
    expected_sigma = np.clip(sigma + 0.2 * grad_sigma, 0.8 * sigma, 1.2 * sigma)
    np.testing.assert_allclose(after.stdev, expected_sigma, rtol=1e-12)


def test_deviation_change_is_bounded() -> None:
    strategy = PGPE(PGPEConfig(population_size=8, stdev_learning_rate=100.0))
    state = strategy.init(np.random.default_rng(0), np.zeros(5, np.float32))
    population, state = strategy.ask(np.random.default_rng(1), state)
    after, _ = strategy.tell(state, population, np.arange(population.size, dtype=float))
    ratio = after.stdev / state.stdev
    assert np.all((ratio >= 0.8 - 1e-12) & (ratio <= 1.2 + 1e-12))
    assert np.any(np.isclose(ratio, 0.8)) or np.any(np.isclose(ratio, 1.2))


def test_radius_init_sets_the_length_of_the_deviation() -> None:
    strategy = PGPE(PGPEConfig(radius_init=2.0))
    state = strategy.init(np.random.default_rng(0), np.zeros(16, np.float32))
    np.testing.assert_allclose(np.linalg.norm(state.stdev), 2.0)


def test_odd_population_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"algorithm\.population_size"):
        from_dict({"algorithm": {"name": "pgpe", "population_size": 7}})


@pytest.mark.parametrize(
    ("settings", "generations", "tolerance"),
    [
        ({"center_learning_rate": 0.02}, 300, 1e-2),  # ClipUp's fixed step length: a floor
        ({"center_learning_rate": 0.1, "optimizer": "adam"}, 200, 1e-3),
    ],
    ids=["clipup", "adam"],
)
def test_solves_the_10d_sphere(settings: dict, generations: int, tolerance: float) -> None:
    strategy = PGPE(PGPEConfig(population_size=20, stdev_init=0.5, **settings))
    state = strategy.init(np.random.default_rng(0), np.full(10, 2.5, np.float32))
    for generation in range(generations):
        population, state = strategy.ask(np.random.default_rng([0, generation]), state)
        state, _ = strategy.tell(state, population, -sphere(population.params()))
    assert sphere(strategy.solution(state)) < tolerance
