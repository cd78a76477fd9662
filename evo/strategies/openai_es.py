"""OpenAI-ES (Salimans, Ho, Chen, Sidor & Sutskever 2017, "Evolution Strategies as a
Scalable Alternative to Reinforcement Learning").

Search distribution N(centre, sigma^2 I). Antithetic pairs (eps, -eps) from one
slice of the shared noise table; centered-rank fitness shaping (or z-score, or raw:
``fitness_shaping``); the gradient estimate g = 1/(n sigma) sum_i u_i eps_i
(Algorithm 2) is followed with Adam on -g + weight_decay * centre, as in the authors'
code. Member 0 is the centre itself, evaluated on fresh episodes each generation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import ConfigError, option
from evo.optim import adam, norm
from evo.population import Members, Population
from evo.strategies.base import (
    NoiseTableConfig,
    State,
    Strategy,
    draw_noise,
    mirrored_population,
    noise_sum,
    table_of,
)
from evo.strategies.shaping import FitnessShaping, shape


@dataclass(frozen=True)
class OpenAIESConfig(NoiseTableConfig):
    """OpenAI-ES hyper-parameters."""

    name: str = option("openai_es", "the strategy")
    population_size: int = option(
        64, "perturbed members per generation (the centre is extra)", ge=1
    )
    sigma: float = option(0.05, "standard deviation of the perturbations", gt=0)
    learning_rate: float = option(0.03, "Adam step size", gt=0)
    weight_decay: float = option(0.005, "L2 coefficient added to the update", ge=0)
    antithetic: bool = option(True, "mirrored pairs (eps, -eps): population must be even")
    beta1: float = option(0.9, "Adam first-moment decay", ge=0, lt=1)
    beta2: float = option(0.999, "Adam second-moment decay", ge=0, lt=1)
    epsilon: float = option(1e-8, "Adam denominator floor", gt=0)
    fitness_shaping: FitnessShaping = option(
        "centered_ranks", "how returns become update weights: centered_ranks, z_score or raw"
    )

    def check(self, path: str) -> None:
        if self.antithetic and self.population_size % 2:
            raise ConfigError(
                f"{path}.population_size: expected an even integer (antithetic sampling pairs "
                f"members), found {self.population_size}"
            )


@dataclass(frozen=True)
class OpenAIESState(State):
    """Centre of the search distribution and Adam's moments."""

    centre: np.ndarray  # (num_params,) float32
    adam_m: np.ndarray  # (num_params,) float64
    adam_v: np.ndarray  # (num_params,) float64
    adam_step: int


class OpenAIES(Strategy[OpenAIESConfig, OpenAIESState]):
    """OpenAI-ES with antithetic sampling, centered ranks, Adam and weight decay."""

    name = "openai_es"
    config_class = OpenAIESConfig
    state_class = OpenAIESState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> OpenAIESState:
        zeros = np.zeros(params.shape, dtype=np.float64)
        return OpenAIESState(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            centre=params,
            adam_m=zeros,
            adam_v=zeros.copy(),
            adam_step=0,
        )

    def _ask(
        self, rng: np.random.Generator, state: OpenAIESState
    ) -> tuple[Population, OpenAIESState]:
        n = self.config.population_size
        if self.config.antithetic:
            population = mirrored_population(rng, state, state.centre, n // 2, self.config.sigma)
            return population, state
        members = Members.build(
            base_index=np.zeros(n + 1, dtype=np.int32),
            noise_offset=np.concatenate([np.zeros(1, dtype=np.int64), draw_noise(rng, state, n)]),
            scale=np.concatenate([[0.0], np.full(n, self.config.sigma)]),
        )
        population = Population(
            bases=state.centre[None, :], members=members, incumbent=True, noise=table_of(state)
        )
        return population, state

    def _tell(
        self, state: OpenAIESState, population: Population, fitness: np.ndarray
    ) -> tuple[OpenAIESState, dict[str, Any]]:
        config = self.config
        shaped = shape(config.fitness_shaping, fitness[1:])  # the centre (member 0) does not vote
        if config.antithetic:  # one slice a pair: members 1, 3, 5, ...
            gradient = noise_sum(population, shaped[0::2] - shaped[1::2], slice(1, None, 2))
        else:
            weights = shaped * population.members.sign[1:]
            gradient = noise_sum(population, weights, slice(1, None))
        gradient /= len(shaped) * config.sigma

        # Adam on the loss -g + wd * theta (ascent on fitness).
        step = -gradient + config.weight_decay * state.centre
        update, adam_m, adam_v = adam(
            step,
            state.adam_m,
            state.adam_v,
            state.adam_step,
            learning_rate=config.learning_rate,
            beta1=config.beta1,
            beta2=config.beta2,
            epsilon=config.epsilon,
        )
        centre = (state.centre + update).astype(np.float32)
        state = dataclasses.replace(
            state, centre=centre, adam_m=adam_m, adam_v=adam_v, adam_step=state.adam_step + 1
        )
        return state, {
            "gradient_norm": norm(gradient),
            "update_norm": norm(update),
            "param_norm": norm(centre),
        }

    def solution(self, state: OpenAIESState) -> np.ndarray:
        """The centre of the search distribution."""
        return state.centre
