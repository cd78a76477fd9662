"""xNES: one update against Algorithm 1 computed directly, the exponential, the 10-D sphere."""

from __future__ import annotations

import numpy as np

from evo.strategies.base import nes_utilities
from evo.strategies.xnes import XNES, XNESConfig, expm, matmul


def sphere(x: np.ndarray) -> np.ndarray:
    return np.sum(x.astype(np.float64) ** 2, axis=-1)


def symmetric_expm(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(m)
    return (vectors * np.exp(values)) @ vectors.T


def test_matmul_and_expm_agree_with_numpy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-13)
    for scale in (1e-3, 0.3, 4.0):
        m = rng.normal(size=(4, 4)) * scale
        m = m + m.T
        np.testing.assert_allclose(expm(m), symmetric_expm(m), rtol=1e-12, atol=1e-14)


def test_one_update_follows_algorithm_1() -> None:
    strategy = XNES(XNESConfig(population_size=6, stdev_init=0.7))
    centre = np.array([1.0, -2.0, 0.5], np.float32)
    state = strategy.init(np.random.default_rng(0), centre)
    population, asked = strategy.ask(np.random.default_rng(5), state)
    s = asked.samples
    params = population.params()
    assert population.incumbent and params.shape == (7, 3)
    np.testing.assert_array_equal(params[0], centre)
    np.testing.assert_allclose(params[1:], centre + 0.7 * s, rtol=1e-6)
    fitness = np.array([0.0, 2.0, -1.0, 5.0, 0.5, 3.0, -4.0])
    after, _ = strategy.tell(asked, population, fitness)

    # Glasmachers et al. (2010), Algorithm 1, with the paper's learning rates for d = 3.
    d = 3
    u = nes_utilities(fitness[1:])
    eta = 3 * (3 + np.log(d)) / (5 * d * np.sqrt(d))
    g_delta = u @ s
    g_m = sum(uk * (np.outer(sk, sk) - np.eye(d)) for uk, sk in zip(u, s, strict=True))
    g_sigma = np.trace(g_m) / d
    g_b = g_m - g_sigma * np.eye(d)
    np.testing.assert_allclose(after.centre, centre + 0.7 * g_delta, rtol=1e-12)
    np.testing.assert_allclose(after.sigma, 0.7 * np.exp(eta / 2 * g_sigma), rtol=1e-14)
    np.testing.assert_allclose(after.shape, symmetric_expm(eta / 2 * g_b), rtol=1e-12)
    assert abs(np.linalg.det(after.shape) - 1) < 1e-12  # tr(G_B) = 0 keeps det B = 1


def test_solves_the_10d_sphere() -> None:
    strategy = XNES(XNESConfig())
    state = strategy.init(np.random.default_rng(0), np.full(10, 2.5, np.float32))
    for generation in range(300):
        population, state = strategy.ask(np.random.default_rng([0, generation]), state)
        state, _ = strategy.tell(state, population, -sphere(population.params()))
    assert sphere(strategy.solution(state)) < 1e-3
