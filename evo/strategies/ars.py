"""Augmented Random Search (Mania, Guy & Recht 2018, "Simple random search provides a
competitive approach to reinforcement learning"), Algorithm 1.

Each generation draws N directions delta_k ~ N(0, I) (line 4) and evaluates the
policy at centre + nu delta_k and centre - nu delta_k (line 5): a mirrored pair of
members from one slice of the shared noise table, as OpenAI-ES has them. Member 0 is
the centre itself, evaluated on fresh episodes so that the run's stop rule can judge
it; it takes no part in the update. The paper counts only the 2N perturbed episodes
(its progress is judged on separate evaluations): with ``evaluate_centre: false`` the
centre is not played, and the stop rule judges the best perturbed member and confirms
the updated centre on fresh episodes instead.

The b directions whose better side max(r+, r-) is highest are kept (line 6: V1-t;
b = N is plain V1), and the centre moves by

    alpha / (b sigma_R) * sum_k (r_k+ - r_k-) delta_k        (line 7)

where sigma_R is the standard deviation of the 2b returns kept. No optimizer, no
fitness shaping beyond that division: the step is the paper's plain one.

V2 differs from V1 only in what the policy sees: observations normalised by the
mean and spread of every state met so far (lines 5 and 8 of V2). That belongs to
the policy's inputs, an option of the problem and the policy, not to the search,
so this one strategy is both V1 and V2: pair it with a linear policy
(``policy.kind: linear``, M = 0 at the start, line 2) and, for V2, normalised
observations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evo.config import ConfigError, option
from evo.optim import norm
from evo.population import Population
from evo.strategies.base import NoiseTableConfig, State, Strategy, mirrored_population, noise_sum
from evo.strategies.shaping import raw, top_directions


@dataclass(frozen=True)
class ARSConfig(NoiseTableConfig):
    """ARS hyper-parameters (the paper's N, alpha, nu and b)."""

    name: str = option("ars", "the strategy")
    # Derived, not a key: 2 members a direction (the centre is extra).
    population_size: int = field(
        init=False,
        default=16,
        metadata={"doc": "2 * directions perturbed members (the centre is extra); not a key"},
    )
    directions: int = option(
        8, "N: directions per generation, each evaluated at centre + and - noise times it", ge=1
    )
    step_size: float = option(0.02, "alpha: the step size of the update", gt=0)
    noise: float = option(0.03, "nu: the standard deviation of the exploration noise", gt=0)
    top_directions: int | None = option(
        None, "b: the best directions kept for the update (null: all N, ARS V1; fewer: V1-t)", ge=1
    )
    evaluate_centre: bool = option(
        True,
        "play the centre itself each generation (member 0, judged by the stop rule); false: "
        "only the 2N perturbed members, as the paper counts episodes (the stop rule then "
        "judges the best of them and confirms the updated centre)",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "population_size", 2 * self.directions)

    def check(self, path: str) -> None:
        if self.top_directions is not None and self.top_directions > self.directions:
            raise ConfigError(
                f"{path}.top_directions: expected at most directions ({self.directions}), "
                f"found {self.top_directions}"
            )


@dataclass(frozen=True)
class ARSState(State):
    """The centre of the search: the policy's parameters (M in the paper)."""

    centre: np.ndarray  # (num_params,) float32


class ARS(Strategy[ARSConfig, ARSState]):
    """ARS V1 / V1-t: mirrored directions, the top b kept, a step scaled by the returns' spread."""

    name = "ars"
    config_class = ARSConfig
    state_class = ARSState

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> ARSState:
        return ARSState(
            generation=0, best_params=params.copy(), best_fitness=-np.inf, centre=params
        )

    def _ask(self, rng: np.random.Generator, state: ARSState) -> tuple[Population, ARSState]:
        # Lines 4-5: N directions, each evaluated on both sides of the centre.
        config = self.config
        population = mirrored_population(
            rng, state, state.centre, config.directions, config.noise, config.evaluate_centre
        )
        return population, state

    def _tell(
        self, state: ARSState, population: Population, fitness: np.ndarray
    ) -> tuple[ARSState, dict[str, Any]]:
        config = self.config
        # A failed side counts as the worst successful return, so it cannot steer the step.
        first = 1 if population.incumbent else 0  # member 0, the centre, does not vote
        returns = raw(fitness[first:])
        plus, minus = returns[0::2], returns[1::2]
        kept = top_directions(plus, minus, config.top_directions)  # line 6
        # sigma_R: the spread of the 2b returns used (numpy's pairwise sums, no BLAS).
        used = np.concatenate([plus[kept], minus[kept]])
        return_std = float(np.sqrt(np.mean((used - used.mean()) ** 2)))
        step = np.zeros(population.num_params, dtype=np.float64)
        if return_std > 0:  # all kept returns equal: no direction is better, no step
            # In direction order, so the sum's rounding is fixed; one slice a pair (members
            # 1, 3, 5, ... after the centre), direction k is member 2k + first.
            step = noise_sum(population, plus[kept] - minus[kept], first + 2 * kept)
            step *= config.step_size / (len(kept) * return_std)  # line 7
        centre = (state.centre + step).astype(np.float32)
        return dataclasses.replace(state, centre=centre), {
            "return_std": return_std,
            "update_norm": norm(step),
            "param_norm": norm(centre),
        }

    def solution(self, state: ARSState) -> np.ndarray:
        """The centre: the policy ARS is improving."""
        return state.centre
