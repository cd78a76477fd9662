"""What CMA-ES and sep-CMA-ES share: the config keys, the constants of (dimension,
population size), the state apart from the covariance, step-size control, the stop
criteria and IPOP/BIPOP restarts.

Equation numbers are those of Hansen, "The CMA Evolution Strategy: A Tutorial"
(arXiv:1604.00772); the stop criteria follow pycma's purecma.py; restarts follow
Auger & Hansen 2005 (IPOP-CMA-ES) and Hansen 2009 (BIPOP-CMA-ES).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from evo.config import AlgorithmConfig, option
from evo.population import Members, Population
from evo.strategies.base import State, Strategy


@dataclass(frozen=True)
class CMAConfig(AlgorithmConfig):
    """Keys of both CMA-ES variants."""

    population_size: int | None = option(
        None, "candidates per generation (null: 4 + floor(3 ln n), n the parameters)", ge=2
    )
    sigma: float = option(0.1, "initial step size (standard deviation per coordinate)", gt=0)
    restarts: Literal["none", "ipop", "bipop"] = option(
        "none", "on a stop criterion: carry on, restart with twice the population, or BIPOP"
    )
    max_restarts: int = option(9, "restarts at most (ipop, bipop)", ge=0)
    tolfun: float = option(1e-12, "stop criterion: a generation's fitness spread below", ge=0)
    tolx: float = option(1e-11, "stop criterion: sigma times the longest axis below", ge=0)
    max_condition: float = option(1e14, "stop criterion: covariance condition above", gt=1)
    evaluate_mean: bool = option(
        False,
        "also play the mean (the solution) as member 0 each generation; it does not vote, and "
        "the stop rule judges it instead of the best candidate",
    )


@dataclass(frozen=True)
class Constants:
    """Strategy parameters that depend only on (dimension, population size): Table 1."""

    parents: int  # mu
    weights: np.ndarray  # (parents,) positive, summing to one
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_n: float  # E||N(0, I)||
    eigen_gap: float  # evaluations between eigendecompositions (purecma's lazy_gap_evals)


@functools.lru_cache(maxsize=64)
def constants(dim: int, population_size: int, covariance_scale: float = 1.0) -> Constants:
    """Table 1's defaults; ``covariance_scale`` multiplies c_1 and c_mu (sep-CMA-ES)."""
    parents = population_size // 2  # eq. (49): mu = lambda / 2
    raw = math.log((population_size + 1) / 2) - np.log(np.arange(1, parents + 1))  # eq. (49)
    weights = raw / raw.sum()  # eq. (53), positive weights only
    weights.flags.writeable = False
    mu_eff = 1.0 / float(np.sum(weights**2))  # eq. (8)
    c_sigma = (mu_eff + 2) / (dim + mu_eff + 5)  # eq. (55)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (dim + 1)) - 1) + c_sigma  # eq. (55)
    c_c = (4 + mu_eff / dim) / (dim + 4 + 2 * mu_eff / dim)  # eq. (56)
    alpha_cov = 2.0
    c_1 = min(1.0, covariance_scale * alpha_cov / ((dim + 1.3) ** 2 + mu_eff))  # eq. (57)
    c_mu = min(  # eq. (58)
        1 - c_1,
        covariance_scale
        * alpha_cov
        * (mu_eff - 2 + 1 / mu_eff)
        / ((dim + 2) ** 2 + alpha_cov * mu_eff / 2),
    )
    chi_n = math.sqrt(dim) * (1 - 1 / (4 * dim) + 1 / (21 * dim**2))
    eigen_gap = 0.5 * population_size / ((c_1 + c_mu) * dim)
    return Constants(parents, weights, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n, eigen_gap)


def default_population_size(dim: int) -> int:
    """Eq. (48): lambda = 4 + floor(3 ln n)."""
    return 4 + math.floor(3 * math.log(dim))


def weighted_sum(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """sum_i w_i rows_i by numpy's pairwise sum, not BLAS (same bits on every rerun)."""
    return np.sum(weights[:, None] * rows, axis=0)


@dataclass(frozen=True)
class CMAState(State):
    """The search distribution apart from its covariance, and the restart bookkeeping."""

    mean: np.ndarray  # (num_params,) float64
    sigma: float
    path_sigma: np.ndarray  # (num_params,) float64, p_sigma
    path_covariance: np.ndarray  # (num_params,) float64, p_c
    population_size: int  # lambda of the current run
    run_generation: int  # generations since the last (re)start
    fitness_spread: float  # max - min of the last generation's successful f values
    evaluations: int
    run_start: int  # evaluations when the current run began
    restarts: int
    large_restarts: int  # BIPOP: restarts of the large regime (IPOP: all of them)
    large_evaluations: int  # BIPOP: budget spent in the large regime's runs
    small_evaluations: int  # BIPOP: and in the small regime's
    small_regime: bool  # BIPOP: the current run's evaluations count for the small regime
    initial_mean: np.ndarray  # (num_params,) float64: where every run starts
    initial_sigma: float


S = TypeVar("S", bound=CMAState)


class CMAFamily(Strategy[CMAConfig, S]):
    """The plumbing of both variants; subclasses sample, update and report their axes."""

    def constants(self, state: CMAState) -> Constants:
        """The strategy parameters of the state's dimension and current population size."""
        dim = len(state.mean)
        return constants(dim, state.population_size, self._covariance_scale(dim))

    def _covariance_scale(self, dim: int) -> float:
        return 1.0

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> S:
        mean = params.astype(np.float64)
        size = self.config.population_size or default_population_size(len(mean))
        return self.state_class(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            evaluations=0,
            restarts=0,
            large_restarts=0,
            large_evaluations=0,
            small_evaluations=0,
            small_regime=self.config.restarts == "bipop",  # pycma counts the first run so
            initial_mean=mean,
            initial_sigma=self.config.sigma,
            **self._run(mean, self.config.sigma, size, evaluations=0),
        )

    def _run(
        self, mean: np.ndarray, sigma: float, population_size: int, evaluations: int
    ) -> dict[str, Any]:
        """The fields a (re)start sets: the distribution N(mean, sigma^2 I), paths at zero."""
        dim = len(mean)
        return {
            "mean": mean.copy(),
            "sigma": sigma,
            "path_sigma": np.zeros(dim),
            "path_covariance": np.zeros(dim),
            "population_size": population_size,
            "run_generation": 0,
            "fitness_spread": math.inf,
            "run_start": evaluations,
            **self._fresh_covariance(dim, evaluations),
        }

    def _ask(self, rng: np.random.Generator, state: S) -> tuple[Population, S]:
        config = self.config
        if config.restarts != "none" and state.restarts < config.max_restarts and self.stop(state):
            state = self._restart(rng, state)
        state = self._prepare(state)
        steps = self._sample(rng, state)  # eqs. (38)-(39): y_k ~ N(0, C)
        candidates = (state.mean + state.sigma * steps).astype(np.float32)  # eq. (40)
        if config.evaluate_mean:
            # The mean as member 0: a score of the solution itself each generation, so that
            # a lucky candidate does not set off a stop confirmation of a mediocre mean.
            candidates = np.concatenate([self.solution(state)[None, :], candidates])
        members = Members.build(np.arange(len(candidates)), 0, 0.0)
        population = Population(candidates, members, incumbent=config.evaluate_mean)
        return population, state

    def _tell(
        self, state: S, population: Population, fitness: np.ndarray
    ) -> tuple[S, dict[str, Any]]:
        params = population.params().astype(np.float64)
        if population.incumbent:  # the mean (member 0) is scored, not ranked
            fitness, params = fitness[1:], params[1:]
        f = -fitness  # CMA-ES minimises; a failed member (fitness -inf) ranks last
        counted = dataclasses.replace(state, evaluations=state.evaluations + len(f))
        succeeded = np.isfinite(f)
        if succeeded.sum() < 2:  # nothing to learn from one ranking or none
            return counted, self._metrics(counted)
        order = np.argsort(f, kind="stable")
        # The steps of the evaluated (float32) candidates, best first.
        steps = (params - state.mean) / state.sigma
        state = self._update(counted, steps[order], self.constants(state))
        spread = float(np.max(f[succeeded]) - np.min(f[succeeded]))
        state = dataclasses.replace(
            state, fitness_spread=spread, run_generation=state.run_generation + 1
        )
        return state, self._metrics(state)

    def _metrics(self, state: S) -> dict[str, Any]:
        axes = self._axes(state)
        return {
            "sigma": float(state.sigma),
            "axis_ratio": float(np.max(axes) / max(np.min(axes), 1e-300)),
            "restarts": float(state.restarts),
        }

    def stop(self, state: S) -> dict[str, float]:
        """The stop criteria the state meets, as purecma's ``stop()`` reports them."""
        config, reasons = self.config, {}
        if state.run_generation == 0:
            return reasons
        if state.fitness_spread < config.tolfun:
            reasons["tolfun"] = state.fitness_spread
        longest = state.sigma * float(np.max(self._axes(state)))
        if longest < config.tolx:
            reasons["tolx"] = longest
        condition = self._metrics(state)["axis_ratio"] ** 2
        if condition > config.max_condition:
            reasons["conditioncov"] = condition
        return reasons

    def _restart(self, rng: np.random.Generator, state: S) -> S:
        """A fresh run from the initial mean. IPOP doubles the population (Auger & Hansen
        2005). BIPOP (Hansen 2009, as pycma's fmin has it) runs the doubling regime
        whenever the small regime has spent at least as many evaluations as it, else a
        small-population run of random population size and step size."""
        spent = state.evaluations - state.run_start
        small = state.small_evaluations + (spent if state.small_regime else 0)
        large = state.large_evaluations + (0 if state.small_regime else spent)
        dim = len(state.mean)
        default = self.config.population_size or default_population_size(dim)
        large_restarts, sigma = state.large_restarts, state.initial_sigma
        small_regime = self.config.restarts == "bipop" and small < max(1, large)
        if small_regime:
            # lambda_s = lambda_0 (lambda_large / lambda_0)^(U^2), sigma_s = sigma_0 10^(-2U)
            exponent, uniform = float(rng.random()) ** 2, float(rng.random())
            population_size = max(2, int(default * 2 ** (large_restarts * exponent)))
            sigma = sigma * 10 ** (-2 * uniform)
        else:
            large_restarts += 1
            population_size = default * 2**large_restarts
        return dataclasses.replace(
            state,
            restarts=state.restarts + 1,
            large_restarts=large_restarts,
            large_evaluations=large,
            small_evaluations=small,
            small_regime=small_regime,
            **self._run(state.initial_mean, sigma, population_size, state.evaluations),
        )

    def solution(self, state: S) -> np.ndarray:
        """The mean of the search distribution."""
        return state.mean.astype(np.float32)

    def _fresh_covariance(self, dim: int, evaluations: int) -> dict[str, Any]:
        raise NotImplementedError

    def _prepare(self, state: S) -> S:
        return state

    def _sample(self, rng: np.random.Generator, state: S) -> np.ndarray:
        raise NotImplementedError

    def _update(self, state: S, steps: np.ndarray, constants: Constants) -> S:
        raise NotImplementedError

    def _axes(self, state: S) -> np.ndarray:
        raise NotImplementedError


def recombine_and_adapt_sigma(
    state: CMAState, steps: np.ndarray, whiten: Any, constants: Constants
) -> tuple[dict[str, Any], np.ndarray, float]:
    """Eqs. (41)-(45) on steps sorted best first: returns the new mean, sigma and paths
    (as replace() fields), the weighted step <y>_w and delta(h_sigma)."""
    c = constants
    step = weighted_sum(c.weights, steps[: c.parents])  # eq. (41)
    mean = state.mean + state.sigma * step  # eq. (42), c_m = 1
    path_sigma = (1 - c.c_sigma) * state.path_sigma + math.sqrt(
        c.c_sigma * (2 - c.c_sigma) * c.mu_eff
    ) * whiten(step)  # eq. (43)
    length = math.sqrt(float(np.sum(path_sigma**2)))
    # h_sigma stalls p_c while p_sigma is long, as when sigma grows fast (the tutorial's
    # summary, after eq. 45); (1 - c_sigma)^(2(g+1)) allows for p_sigma starting at zero.
    bias = math.sqrt(1 - (1 - c.c_sigma) ** (2 * (state.run_generation + 1)))
    h_sigma = float(length / bias < (1.4 + 2 / (len(mean) + 1)) * c.chi_n)
    path_covariance = (1 - c.c_c) * state.path_covariance + h_sigma * math.sqrt(
        c.c_c * (2 - c.c_c) * c.mu_eff
    ) * step  # eq. (45)
    # eq. (44), the exponent capped at 1 as purecma does, against overflow on a flat start.
    sigma = state.sigma * math.exp(min(1.0, c.c_sigma / c.d_sigma * (length / c.chi_n - 1)))
    delta = (1 - h_sigma) * c.c_c * (2 - c.c_c)
    fields = {
        "mean": mean,
        "sigma": sigma,
        "path_sigma": path_sigma,
        "path_covariance": path_covariance,
    }
    return fields, step, delta
