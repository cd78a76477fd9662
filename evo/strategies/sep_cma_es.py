"""sep-CMA-ES (Ros & Hansen 2008, "A Simple Modification in CMA-ES Achieving Linear Time
and Space Complexity"): CMA-ES with a diagonal covariance matrix.

Only the variances are adapted, so a generation costs O(n) per candidate and the state
O(n): the variant for thousands of parameters. Restricting C to its diagonal lets it
learn faster: Ros & Hansen scale the learning rates c_1 and c_mu by (n + 2) / 3
(Section 3). Everything else (weights, CSA, the paths, the restarts) is CMA-ES's, eqs.
of Hansen's tutorial (arXiv:1604.00772).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import option
from evo.strategies.cma_shared import (
    CMAConfig,
    CMAFamily,
    CMAState,
    Constants,
    recombine_and_adapt_sigma,
    weighted_sum,
)


@dataclass(frozen=True)
class SepCMAESConfig(CMAConfig):
    """sep-CMA-ES hyper-parameters."""

    name: str = option("sep_cma_es", "the strategy")


@dataclass(frozen=True)
class SepCMAESState(CMAState):
    """The diagonal of the covariance matrix."""

    variances: np.ndarray  # (num_params,) float64, diag(C)


class SepCMAES(CMAFamily[SepCMAESState]):
    """sep-CMA-ES: CMA-ES's updates restricted to the diagonal of C."""

    name = "sep_cma_es"
    config_class = SepCMAESConfig
    state_class = SepCMAESState

    def _covariance_scale(self, dim: int) -> float:
        # Ros & Hansen 2008, Section 3: a diagonal C learns (n + 2) / 3 times faster.
        return (dim + 2) / 3

    def _fresh_covariance(self, dim: int, evaluations: int) -> dict[str, Any]:
        return {"variances": np.ones(dim)}

    def _sample(self, rng: np.random.Generator, state: SepCMAESState) -> np.ndarray:
        dim = len(state.mean)
        normal = rng.standard_normal((state.population_size, dim))  # eq. (38): z_k
        return normal * np.sqrt(state.variances)  # eq. (39) with B = I

    def _update(
        self, state: SepCMAESState, steps: np.ndarray, constants: Constants
    ) -> SepCMAESState:
        c = constants
        deviations = np.sqrt(state.variances)
        fields, _, delta = recombine_and_adapt_sigma(
            state, steps, lambda vector: vector / deviations, c
        )
        path = fields["path_covariance"]
        rank_mu = weighted_sum(c.weights, steps[: c.parents] ** 2)
        # eq. (47) on the diagonal, sum(w) = 1.
        variances = (
            (1 + c.c_1 * delta - c.c_1 - c.c_mu) * state.variances
            + c.c_1 * path**2
            + c.c_mu * rank_mu
        )
        return dataclasses.replace(state, variances=variances, **fields)

    def _axes(self, state: SepCMAESState) -> np.ndarray:
        return np.sqrt(state.variances)
