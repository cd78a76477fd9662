"""xNES (Glasmachers, Schaul, Sun, Wierstra & Schmidhuber 2010, "Exponential natural
evolution strategies"), for small problems: a full covariance, dense members.

Search distribution N(centre, A A^T) with A = sigma B, det B = 1. Per generation, with
s_k ~ N(0, I), z_k = centre + sigma B s_k and u_k the NES utility of member k (by rank,
best first), Algorithm 1 of the paper computes the natural gradients

    G_delta = sum_k u_k s_k           G_M = sum_k u_k (s_k s_k^T - I)
    G_sigma = tr(G_M) / d             G_B = G_M - G_sigma I

and updates, in the exponential parametrisation,

    centre <- centre + eta_centre sigma B G_delta
    sigma  <- sigma exp(eta_sigma / 2 G_sigma)        B <- B expm(eta_B / 2 G_B)

with eta_centre = 1, eta_sigma = eta_B = 3 (3 + ln d) / (5 d sqrt d) and 4 + floor(3 ln d)
members (the paper's defaults). The members are dense (one float32 vector each, the
centre first, re-evaluated and not voting); s_k is kept in the state from ask to tell.
Products and the matrix exponential are written as sums, not BLAS or LAPACK calls, so
the state is the same bits on every CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import AlgorithmConfig, option
from evo.optim import norm
from evo.population import Members, Population
from evo.strategies.base import State, Strategy, nes_utilities
from evo.strategies.snes import default_population_size


def matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` by numpy's pairwise sums (the same bits on every CPU)."""
    return np.sum(left[:, :, None] * right[None, :, :], axis=1)


def expm(matrix: np.ndarray) -> np.ndarray:
    """The matrix exponential by scaling and squaring a Taylor series (the step of xNES
    has a small norm, so a few squarings and terms reach float64 precision)."""
    size = math.sqrt(float(np.sum(matrix * matrix)))
    squarings = max(0, math.ceil(math.log2(size / 0.25))) if size > 0 else 0
    scaled = matrix / 2.0**squarings
    result = np.eye(len(matrix))
    term = np.eye(len(matrix))
    for order in range(1, 19):  # |scaled| <= 1/4: 18 terms leave a remainder below 1e-20
        term = matmul(term, scaled) / order
        result = result + term
        if np.max(np.abs(term)) <= 1e-18 * np.max(np.abs(result)):
            break  # the rest is below float64 resolution of the largest entry
    for _ in range(squarings):
        result = matmul(result, result)
    return result


@dataclass(frozen=True)
class XNESConfig(AlgorithmConfig):
    """xNES hyper-parameters (0 or null: the paper's value for the number of parameters)."""

    name: str = option("xnes", "the strategy")
    population_size: int | None = option(
        None, "sampled members per generation, the centre extra (null: 4 + floor(3 ln d))", ge=1
    )
    stdev_init: float = option(1.0, "initial sigma (A = sigma I)", gt=0)
    center_learning_rate: float = option(1.0, "eta_centre, the centre's learning rate", gt=0)
    stdev_learning_rate: float | None = option(
        None, "eta_sigma, sigma's learning rate (null: 3 (3 + ln d) / (5 d sqrt d))", gt=0
    )
    shape_learning_rate: float | None = option(
        None, "eta_B, the shape's learning rate (null: as eta_sigma's default)", gt=0
    )


@dataclass(frozen=True)
class XNESState(State):
    """The search distribution, and the standard-normal samples of the last ask."""

    centre: np.ndarray  # (num_params,) float64
    sigma: float
    shape: np.ndarray  # (num_params, num_params) float64: B, det B = 1
    samples: np.ndarray  # (population, num_params) float64: s_k of the members asked


class XNES(Strategy[XNESConfig, XNESState]):
    """Exponential NES with a full covariance matrix."""

    name = "xnes"
    config_class = XNESConfig
    state_class = XNESState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> XNESState:
        num_params = len(params)
        return XNESState(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            centre=params.astype(np.float64),
            sigma=float(self.config.stdev_init),
            shape=np.eye(num_params),
            samples=np.zeros((0, num_params)),
        )

    def _ask(self, rng: np.random.Generator, state: XNESState) -> tuple[Population, XNESState]:
        num_params = len(state.centre)
        size = self.config.population_size or default_population_size(num_params)
        samples = rng.standard_normal((size, num_params))
        # z_k = centre + sigma B s_k, row by row: samples @ B^T.
        candidates = state.centre + state.sigma * matmul(samples, state.shape.T)
        bases = np.concatenate([state.centre[None, :], candidates]).astype(np.float32)
        members = Members.build(np.arange(size + 1), 0, 0.0)
        population = Population(bases=bases, members=members, incumbent=True)
        return population, dataclasses.replace(state, samples=samples)

    def _tell(
        self, state: XNESState, population: Population, fitness: np.ndarray
    ) -> tuple[XNESState, dict[str, Any]]:
        config, samples = self.config, state.samples
        num_params = len(state.centre)
        assert len(samples) == population.size - 1, "tell the population of the last ask"
        utilities = nes_utilities(fitness[1:])  # member 0 (the centre) does not vote
        delta_gradient = np.sum(utilities[:, None] * samples, axis=0)
        weighted = utilities[:, None] * samples
        moment_gradient = matmul(weighted.T, samples) - np.sum(utilities) * np.eye(num_params)
        sigma_gradient = float(np.trace(moment_gradient)) / num_params
        shape_gradient = moment_gradient - sigma_gradient * np.eye(num_params)

        default_rate = 3 * (3 + math.log(num_params)) / (5 * num_params * math.sqrt(num_params))
        sigma_rate = config.stdev_learning_rate or default_rate
        shape_rate = config.shape_learning_rate or default_rate
        update = (
            config.center_learning_rate
            * state.sigma
            * matmul(state.shape, delta_gradient[:, None]).ravel()
        )
        state = dataclasses.replace(
            state,
            centre=state.centre + update,
            sigma=state.sigma * math.exp(sigma_rate / 2 * sigma_gradient),
            shape=matmul(state.shape, expm(shape_rate / 2 * shape_gradient)),
        )
        return state, {
            "gradient_norm": norm(delta_gradient),
            "update_norm": norm(update),
            "param_norm": norm(state.centre),
            "sigma": state.sigma,
        }

    def solution(self, state: XNESState) -> np.ndarray:
        """The centre of the search distribution."""
        return state.centre.astype(np.float32)
