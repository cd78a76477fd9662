"""Genetic algorithm with truncation selection, elitism and Gaussian mutation
(the "Deep GA" of Such, Madhavan, Conti, Lehman, Stanley & Clune 2017).

Each generation the top ``truncation`` candidates become parents. A child is a
parent plus ``sigma`` times a slice of the shared noise table (as in the authors'
code), so it travels as (parent index, noise offset). The ``elites`` best are kept unchanged: either
evaluated again on the new generation's episodes (``reevaluate``, robust to
lucky episodes) or carried over with their old fitness (``carry``, cheaper).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evo.config import ConfigError, option
from evo.population import Members, Population, materialize
from evo.strategies.base import NoiseTableConfig, State, Strategy, draw_noise, table_of


@dataclass(frozen=True)
class GAConfig(NoiseTableConfig):
    """GA hyper-parameters."""

    name: str = option("ga", "the strategy")
    population_size: int = option(64, "members per generation", ge=2)
    truncation: int = option(10, "candidates selected as parents", ge=1)
    elites: int = option(1, "best candidates kept unchanged", ge=0)
    elite_mode: Literal["reevaluate", "carry"] = option(
        "reevaluate", "reevaluate elites on fresh episodes, or carry their fitness"
    )
    sigma: float = option(0.02, "mutation power: standard deviation of the noise", gt=0)

    def check(self, path: str) -> None:
        if self.truncation > self.population_size:
            raise ConfigError(
                f"{path}.truncation: expected at most population_size "
                f"({self.population_size}), found {self.truncation}"
            )
        if self.elites > self.truncation or self.elites >= self.population_size:
            raise ConfigError(
                f"{path}.elites: expected at most truncation ({self.truncation}) and fewer than "
                f"population_size ({self.population_size}), found {self.elites}"
            )


@dataclass(frozen=True)
class GAState(State):
    """The selected parents, best first, with the fitness they were selected on."""

    parents: np.ndarray  # (num_parents, num_params) float32
    parent_fitness: np.ndarray  # (num_parents,) float64; NaN: never evaluated
    # Where each parent was evaluated, (generation, member) rows; (-1, -1): the initial
    # parameters. None in checkpoints written before it was recorded.
    parent_origin: np.ndarray | None = None  # (num_parents, 2) int64


class GA(Strategy[GAConfig, GAState]):
    """Truncation-selection GA with seed-described children."""

    name = "ga"
    config_class = GAConfig
    state_class = GAState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> GAState:
        return GAState(
            generation=0,
            best_params=params.copy(),
            best_fitness=-np.inf,
            parents=params[None, :],
            parent_fitness=np.array([np.nan]),
            parent_origin=np.full((1, 2), -1, dtype=np.int64),
        )

    def _elite_count(self, state: GAState) -> int:
        if self.config.elite_mode == "reevaluate":
            return min(self.config.elites, len(state.parents))
        return min(self.config.elites, int(np.sum(~np.isnan(state.parent_fitness))))

    def _ask(self, rng: np.random.Generator, state: GAState) -> tuple[Population, GAState]:
        config = self.config
        elites = self._elite_count(state)
        children = config.population_size - elites
        parent_index = rng.integers(0, len(state.parents), size=children)
        offsets = draw_noise(rng, state, children)
        noise = table_of(state)
        if config.elite_mode == "reevaluate":
            members = Members.build(
                base_index=np.concatenate([np.arange(elites), parent_index]),
                noise_offset=np.concatenate([np.zeros(elites, dtype=np.int64), offsets]),
                scale=np.concatenate([np.zeros(elites), np.full(children, config.sigma)]),
            )
            return Population(state.parents, members, incumbent=elites > 0, noise=noise), state
        members = Members.build(parent_index, offsets, config.sigma)
        return Population(state.parents, members, incumbent=False, noise=noise), state

    def _tell(
        self, state: GAState, population: Population, fitness: np.ndarray
    ) -> tuple[GAState, dict[str, Any]]:
        candidates, candidate_fitness = population.members, fitness
        origin = np.stack(
            [np.full(population.size, state.generation), np.arange(population.size)], axis=1
        )
        if self.config.elite_mode == "carry":
            # Carried elites compete with their old fitness, as scale-0 records of their base.
            carried = self._elite_count(state)
            candidates = Members.build(
                np.concatenate([population.members.base_index, np.arange(carried)]),
                np.concatenate([population.members.noise_offset, np.zeros(carried, np.int64)]),
                np.concatenate([population.members.scale, np.zeros(carried, np.float32)]),
                np.concatenate([population.members.sign, np.ones(carried, np.int8)]),
            )
            candidate_fitness = np.concatenate([fitness, state.parent_fitness[:carried]])
            origin = np.concatenate([origin, self.base_origins(state)[:carried]])
        order = np.argsort(-candidate_fitness, kind="stable")[: self.config.truncation]
        parents = materialize(population.shared, candidates.take(order))
        state = dataclasses.replace(
            state,
            parents=parents,
            parent_fitness=candidate_fitness[order].copy(),
            parent_origin=origin[order].astype(np.int64),
        )
        return state, {"parent_fitness_mean": float(np.mean(state.parent_fitness))}

    def solution(self, state: GAState) -> np.ndarray:
        """The top parent."""
        return state.parents[0]

    def base_origins(self, state: GAState) -> np.ndarray:
        """Where each parent was evaluated (``-1, -1`` also when a checkpoint predates it)."""
        if state.parent_origin is None:
            return np.full((len(state.parents), 2), -1, dtype=np.int64)
        return state.parent_origin
