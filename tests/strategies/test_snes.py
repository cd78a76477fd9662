"""SNES: the utilities, one update against the paper's equations, and the 10-D sphere."""

from __future__ import annotations

import math

import numpy as np

from evo.noise import noise
from evo.strategies.base import nes_utilities
from evo.strategies.snes import SNES, SNESConfig, default_population_size


def sphere(x: np.ndarray) -> np.ndarray:
    return np.sum(x.astype(np.float64) ** 2, axis=-1)


def test_nes_utilities_follow_the_formula() -> None:
    fitness = np.array([3.0, -1.0, 7.0, 0.5, 2.0, 2.0])  # ties: the lower index ranks first
    n = len(fitness)
    raw = np.maximum(0, np.log(n / 2 + 1) - np.log(np.arange(1, n + 1)))
    by_rank = raw / raw.sum() - 1 / n
    ranks = [1, 5, 0, 4, 2, 3]  # 0 = best
    utilities = nes_utilities(fitness)
    np.testing.assert_allclose(utilities, by_rank[ranks], rtol=1e-15)
    assert abs(utilities.sum()) < 1e-15


def test_paper_defaults() -> None:
    assert default_population_size(10) == 4 + math.floor(3 * math.log(10)) == 10
    strategy = SNES(SNESConfig())
    state = strategy.init(np.random.default_rng(0), np.zeros(10, np.float32))
    population, _ = strategy.ask(np.random.default_rng(1), state)
    assert population.size == 11 and population.incumbent


def test_one_update_follows_the_paper() -> None:
    strategy = SNES(SNESConfig(population_size=5, stdev_init=0.4))
    centre = np.array([1.0, -0.5, 0.25], np.float32)
    state = strategy.init(np.random.default_rng(0), centre)
    population, state = strategy.ask(np.random.default_rng(3), state)
    offsets = population.members.noise_offset[1:]
    s = np.array([noise(population.noise, k, 3).astype(np.float64) for k in offsets])
    np.testing.assert_allclose(population.params()[1:], centre + 0.4 * s, rtol=1e-6)
    fitness = np.array([0.0, 1.0, 4.0, -2.0, 3.0, 0.5])
    after, _ = strategy.tell(state, population, fitness)

    # Schaul et al. (2011), SNES: u by rank, eta_mu = 1, eta_sigma = (3 + ln d) / (5 sqrt d).
    u = nes_utilities(fitness[1:])
    eta_sigma = (3 + np.log(3)) / (5 * np.sqrt(3))
    sigma = np.full(3, 0.4)
    np.testing.assert_allclose(after.centre, centre + sigma * (u @ s), rtol=1e-12)
    expected_sigma = sigma * np.exp(eta_sigma / 2 * (u @ (s**2 - 1)))
    np.testing.assert_allclose(after.stdev, expected_sigma, rtol=1e-12)


def test_solves_the_10d_sphere() -> None:
    strategy = SNES(SNESConfig(stdev_init=1.0))
    state = strategy.init(np.random.default_rng(0), np.full(10, 2.5, np.float32))
    for generation in range(200):
        population, state = strategy.ask(np.random.default_rng([0, generation]), state)
        state, _ = strategy.tell(state, population, -sphere(population.params()))
    assert sphere(strategy.solution(state)) < 1e-8
