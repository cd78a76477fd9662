"""SNES (Schaul, Glasmachers & Schmidhuber 2011, "High dimensions and heavy tails for
natural evolution strategies"), the separable natural evolution strategy.

Search distribution N(centre, diag(stdev^2)). Per generation, with s_k ~ N(0, I) the
unit noise of member k and u_k its NES utility (by rank, best first), the paper's SNES
pseudocode updates

    grad_centre = sum_k u_k s_k             grad_stdev = sum_k u_k (s_k^2 - 1)
    centre <- centre + eta_centre * stdev * grad_centre
    stdev  <- stdev * exp(eta_stdev / 2 * grad_stdev)

with eta_centre = 1, eta_stdev = (3 + ln d) / (5 sqrt d) and 4 + floor(3 ln d) members
for d parameters (the paper's defaults). Members are records ``centre + stdev * eps``,
eps a slice of the shared noise table; member 0 is the centre itself, evaluated on
fresh episodes, not voting.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import option
from evo.optim import norm
from evo.population import Population
from evo.strategies.base import (
    NoiseTableConfig,
    State,
    Strategy,
    draw_noise,
    libm_exp,
    nes_utilities,
    noise_moments,
    spread_population,
)


def default_population_size(num_params: int) -> int:
    """The NES population of Schaul et al. (2011) and Glasmachers et al. (2010)."""
    return 4 + math.floor(3 * math.log(num_params))


@dataclass(frozen=True)
class SNESConfig(NoiseTableConfig):
    """SNES hyper-parameters (0 or null: the paper's value for the number of parameters)."""

    name: str = option("snes", "the strategy")
    population_size: int | None = option(
        None, "sampled members per generation, the centre extra (null: 4 + floor(3 ln d))", ge=1
    )
    stdev_init: float = option(0.1, "initial standard deviation of every coordinate", gt=0)
    center_learning_rate: float = option(1.0, "eta_centre, the centre's learning rate", gt=0)
    stdev_learning_rate: float | None = option(
        None, "eta_stdev, the deviation's learning rate (null: (3 + ln d) / (5 sqrt d))", gt=0
    )


@dataclass(frozen=True)
class SNESState(State):
    """The search distribution."""

    centre: np.ndarray  # (num_params,) float64
    stdev: np.ndarray  # (num_params,) float64


class SNES(Strategy[SNESConfig, SNESState]):
    """Separable NES with NES utilities and the paper's learning rates."""

    name = "snes"
    config_class = SNESConfig
    state_class = SNESState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> SNESState:
        return SNESState(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            centre=params.astype(np.float64),
            stdev=np.full(params.shape, self.config.stdev_init, dtype=np.float64),
        )

    def _ask(self, rng: np.random.Generator, state: SNESState) -> tuple[Population, SNESState]:
        size = self.config.population_size or default_population_size(len(state.centre))
        offsets = draw_noise(rng, state, size)
        signs = np.ones(size, np.int8)
        return spread_population(state, state.centre, state.stdev, offsets, signs), state

    def _tell(
        self, state: SNESState, population: Population, fitness: np.ndarray
    ) -> tuple[SNESState, dict[str, Any]]:
        config, num_params = self.config, population.num_params
        utilities = nes_utilities(fitness[1:])  # member 0 (the centre) does not vote
        centre_gradient, stdev_gradient = noise_moments(
            population, utilities, utilities, slice(1, None)
        )
        stdev_rate = config.stdev_learning_rate
        if stdev_rate is None:
            stdev_rate = (3 + math.log(num_params)) / (5 * math.sqrt(num_params))
        update = config.center_learning_rate * state.stdev * centre_gradient
        centre = state.centre + update
        stdev = state.stdev * libm_exp(stdev_rate / 2 * stdev_gradient)
        state = dataclasses.replace(state, centre=centre, stdev=stdev)
        return state, {
            "gradient_norm": norm(centre_gradient),
            "update_norm": norm(update),
            "param_norm": norm(centre),
            "stdev_mean": float(np.mean(stdev)),
        }

    def solution(self, state: SNESState) -> np.ndarray:
        """The centre of the search distribution."""
        return state.centre.astype(np.float32)
