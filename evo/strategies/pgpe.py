"""PGPE (Sehnke, Osendorfer, Rückstieß, Graves, Peters & Schmidhuber 2010,
"Parameter-exploring policy gradients", Neural Networks 23(4)).

Search distribution N(centre, diag(stdev^2)). Symmetric sampling (the paper's section of
that name): pairs centre +- eps, eps ~ N(0, diag(stdev^2)), from one slice of the
shared noise table; member 0 is the centre itself, evaluated on fresh episodes. With
centred ranks in place of the rewards (so the baseline b is 0), the paper's
symmetric-sampling gradients are

    g_centre = 1/N sum_k (r+_k - r-_k)/2 * eps_k
    g_stdev  = 1/N sum_k (r+_k + r-_k)/2 * (eps_k^2 - stdev^2) / stdev

over the N directions, as EvoTorch computes them. The centre follows g_centre with
ClipUp (Toklu et al. 2020) or Adam; the deviation takes a plain step of
``stdev_learning_rate`` and changes by at most ``stdev_max_change`` of itself.

Defaults: EvoTorch's documented ones where it has them (optimizer clipup, ClipUp momentum
0.9 and max_speed = 2 * center_learning_rate, stdev_max_change 0.2, symmetric sampling,
centred ranks) and the stdev_learning_rate 0.1 of its examples; EvoTorch requires
population size, center learning rate and initial deviation, so ours are our choice.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evo.config import ConfigError, option
from evo.optim import adam, clipup, norm
from evo.population import Population
from evo.strategies.base import (
    NoiseTableConfig,
    State,
    Strategy,
    draw_noise,
    noise_moments,
    spread_population,
)
from evo.strategies.shaping import centered_ranks


@dataclass(frozen=True)
class PGPEConfig(NoiseTableConfig):
    """PGPE hyper-parameters."""

    name: str = option("pgpe", "the strategy")
    population_size: int = option(
        64, "perturbed members per generation, in +- pairs (the centre is extra)", ge=2
    )
    center_learning_rate: float = option(
        0.075, "the centre's step size (ClipUp) or learning rate (Adam)", gt=0
    )
    optimizer: Literal["clipup", "adam"] = option("clipup", "the centre's optimizer")
    momentum: float = option(0.9, "ClipUp's momentum", ge=0, lt=1)
    max_speed: float | None = option(
        None, "ClipUp's speed limit (null: 2 * center_learning_rate)", gt=0
    )
    stdev_init: float = option(0.1, "initial standard deviation of every coordinate", gt=0)
    radius_init: float | None = option(
        None, "initial length of the deviation vector, replacing stdev_init when set", gt=0
    )
    stdev_learning_rate: float = option(0.1, "step size of the deviation update", ge=0)
    stdev_max_change: float = option(
        0.2, "largest relative change of a deviation per generation", gt=0, lt=1
    )

    def check(self, path: str) -> None:
        if self.population_size % 2:
            raise ConfigError(
                f"{path}.population_size: expected an even integer (symmetric sampling pairs "
                f"members), found {self.population_size}"
            )


@dataclass(frozen=True)
class PGPEState(State):
    """The search distribution and the centre optimizer's state."""

    centre: np.ndarray  # (num_params,) float64
    stdev: np.ndarray  # (num_params,) float64
    optimizer_first: np.ndarray  # (num_params,) float64: ClipUp's velocity, Adam's 1st moment
    optimizer_second: np.ndarray  # (num_params,) float64: Adam's 2nd moment (ClipUp: zeros)
    optimizer_steps: int


class PGPE(Strategy[PGPEConfig, PGPEState]):
    """PGPE with symmetric sampling, centred ranks, ClipUp (or Adam) and bounded deviations."""

    name = "pgpe"
    config_class = PGPEConfig
    state_class = PGPEState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> PGPEState:
        config = self.config
        stdev = config.stdev_init
        if config.radius_init is not None:  # EvoTorch's radius: |stdev| = radius_init
            stdev = config.radius_init / math.sqrt(len(params))
        zeros = np.zeros(params.shape, dtype=np.float64)
        return PGPEState(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            centre=params.astype(np.float64),
            stdev=np.full(params.shape, stdev, dtype=np.float64),
            optimizer_first=zeros,
            optimizer_second=zeros.copy(),
            optimizer_steps=0,
        )

    def _ask(self, rng: np.random.Generator, state: PGPEState) -> tuple[Population, PGPEState]:
        directions = self.config.population_size // 2
        offsets = np.repeat(draw_noise(rng, state, directions), 2)
        signs = np.tile(np.array([1, -1], dtype=np.int8), directions)
        return spread_population(state, state.centre, state.stdev, offsets, signs), state

    def _tell(
        self, state: PGPEState, population: Population, fitness: np.ndarray
    ) -> tuple[PGPEState, dict[str, Any]]:
        config = self.config
        shaped = centered_ranks(fitness[1:])  # member 0 (the centre) does not vote
        plus, minus = shaped[0::2], shaped[1::2]
        directions = len(plus)
        # With eps_k = stdev * noise_k: eps_k = stdev n_k and (eps^2 - stdev^2)/stdev =
        # stdev (n_k^2 - 1), so both gradients are sums over the unit noise (one slice a
        # pair: members 1, 3, 5, ...).
        mean_sum, square_sum = noise_moments(
            population, (plus - minus) / 2, (plus + minus) / 2, slice(1, None, 2)
        )
        centre_gradient = state.stdev * mean_sum / directions
        stdev_gradient = state.stdev * square_sum / directions

        first, second = state.optimizer_first, state.optimizer_second
        if config.optimizer == "clipup":
            update, first = clipup(
                -centre_gradient,
                first,
                step_size=config.center_learning_rate,
                momentum=config.momentum,
                max_speed=config.max_speed,
            )
        else:
            update, first, second = adam(
                -centre_gradient,
                first,
                second,
                state.optimizer_steps,
                learning_rate=config.center_learning_rate,
            )
        # EvoTorch's bounded deviation step: at most stdev_max_change of the old value.
        stdev = np.clip(
            state.stdev + config.stdev_learning_rate * stdev_gradient,
            state.stdev * (1 - config.stdev_max_change),
            state.stdev * (1 + config.stdev_max_change),
        )
        centre = state.centre + update
        state = dataclasses.replace(
            state,
            centre=centre,
            stdev=stdev,
            optimizer_first=first,
            optimizer_second=second,
            optimizer_steps=state.optimizer_steps + 1,
        )
        return state, {
            "gradient_norm": norm(centre_gradient),
            "update_norm": norm(update),
            "param_norm": norm(centre),
            "stdev_mean": float(np.mean(stdev)),
        }

    def solution(self, state: PGPEState) -> np.ndarray:
        """The centre of the search distribution."""
        return state.centre.astype(np.float32)
