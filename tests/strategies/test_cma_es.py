"""CMA-ES against pycma, its defaults, stop criteria and restarts."""

from __future__ import annotations

import numpy as np
import pytest

import evo
from evo.config import ConfigError
from evo.strategies.cma_es import CMAES, CMAESConfig
from tests.strategies.cma_reference import medians

pytest.importorskip("cma")

# pycma without its negative (active) weights: the same algorithm as evo's CMA-ES.
ACTIVE = False


@pytest.mark.parametrize("function", ["sphere", "ellipsoid", "rosenbrock"])
def test_evaluations_to_target_match_pycma(function: str) -> None:
    ours, theirs = medians("cma_es", function, dim=10, seeds=3, active=ACTIVE)
    assert 0.8 * theirs <= ours <= 1.2 * theirs, f"{function}: evo {ours}, pycma {theirs}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_evaluations_to_target_match_pycma_in_100_dimensions() -> None:
    ours, theirs = medians("cma_es", "sphere", dim=100, seeds=10, active=ACTIVE)
    assert 0.8 * theirs <= ours <= 1.2 * theirs, f"sphere 100-D: evo {ours}, pycma {theirs}"


@pytest.mark.slow
@pytest.mark.parametrize("function", ["sphere", "ellipsoid", "rosenbrock"])
def test_evaluations_to_target_match_pycma_over_ten_seeds(function: str) -> None:
    ours, theirs = medians("cma_es", function, dim=10, seeds=10, active=ACTIVE)
    assert 0.8 * theirs <= ours <= 1.2 * theirs, f"{function}: evo {ours}, pycma {theirs}"


def test_default_population_size_is_four_plus_three_log_n() -> None:
    strategy = CMAES(CMAESConfig())
    state = strategy.init(np.random.default_rng(0), np.zeros(100, np.float32))
    population, _ = strategy.ask(np.random.default_rng(1), state)
    assert population.size == 4 + int(np.floor(3 * np.log(100))) == 17
    assert population.bases.shape == (17, 100) and population.bases.dtype == np.float32
    np.testing.assert_array_equal(population.members.base_index, np.arange(17))
    assert not population.members.scale.any()


def flat_generations(restarts: str, generations: int) -> list[tuple[int, float, dict]]:
    """(population size, sigma, stop reasons) on a constant function: tolfun at once."""
    search = evo.Search("cma_es", x0=np.zeros(5), seed=0, sigma=0.3, restarts=restarts)
    seen = []
    for _ in range(generations):
        candidates = search.ask()
        seen.append((len(candidates), search.state.sigma, search.strategy.stop(search.state)))
        search.tell(np.zeros(len(candidates)))
    return seen


def test_ipop_restarts_double_the_population() -> None:
    seen = flat_generations("ipop", 4)
    assert [size for size, _, _ in seen] == [8, 16, 32, 64]
    assert all(sigma == 0.3 for _, sigma, _ in seen)


def test_bipop_alternates_a_small_regime_with_the_doubling_one() -> None:
    # As pycma's fmin: the first run's budget counts as the small regime's, so the first
    # restart doubles; then small runs (lambda_0 <= size <= the last large one, sigma below
    # sigma_0) until they have spent as much as the large ones.
    seen = flat_generations("bipop", 8)
    sizes = [size for size, _, _ in seen]
    assert sizes[:2] == [8, 16]
    assert 32 in sizes
    small = [(size, sigma) for size, sigma, _ in seen[2:] if sigma != 0.3]
    assert small and all(8 <= size <= 32 and sigma < 0.3 for size, sigma in small)


def test_without_restarts_the_stop_reasons_are_reported_only() -> None:
    seen = flat_generations("none", 3)
    assert [size for size, _, _ in seen] == [8, 8, 8]
    search = evo.Search("cma_es", x0=np.zeros(5), seed=0, sigma=0.3)
    search.tell(np.zeros(len(search.ask())))
    assert search.strategy.stop(search.state) == {"tolfun": 0.0}


def test_restarts_stop_at_max_restarts() -> None:
    search = evo.Search("cma_es", x0=np.zeros(5), seed=0, restarts="ipop", max_restarts=2)
    for _ in range(5):
        search.tell(np.zeros(len(search.ask())))
    assert search.state.restarts == 2 and search.state.population_size == 32


def test_a_bad_restarts_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="restarts"):
        evo.Search("cma_es", x0=np.zeros(5), restarts="sometimes")


@pytest.mark.parametrize("name", ["cma_es", "sep_cma_es"])
def test_evaluate_mean_plays_the_mean_as_member_0_without_a_vote(name: str) -> None:
    from evo.strategies import REGISTRY

    cls = REGISTRY[name]
    plain = cls(cls.config_class(population_size=8, sigma=0.3))
    scored = cls(cls.config_class(population_size=8, sigma=0.3, evaluate_mean=True))
    x0 = np.linspace(-1, 1, 6).astype(np.float32)
    state_plain = plain.init(np.random.default_rng(0), x0)
    state_scored = scored.init(np.random.default_rng(0), x0)
    for generation in range(5):
        population, state_plain = plain.ask(np.random.default_rng(generation), state_plain)
        with_mean, state_scored = scored.ask(np.random.default_rng(generation), state_scored)
        assert with_mean.incumbent and not population.incumbent
        assert with_mean.size == population.size + 1
        np.testing.assert_array_equal(with_mean.params()[0], scored.solution(state_scored))
        np.testing.assert_array_equal(with_mean.params()[1:], population.params())
        fitness = -np.sum(population.params().astype(np.float64) ** 2, axis=1)
        # Member 0's score, however good, changes nothing of the search distribution.
        state_plain, _ = plain.tell(state_plain, population, fitness)
        state_scored, _ = scored.tell(state_scored, with_mean, np.concatenate([[1e9], fitness]))
        np.testing.assert_array_equal(state_scored.mean, state_plain.mean)
        assert state_scored.sigma == state_plain.sigma
        assert state_scored.evaluations == state_plain.evaluations
