"""CMA-ES (Hansen & Ostermeier 2001), as Hansen's tutorial (arXiv:1604.00772) and pycma's
purecma.py have it.

Search distribution N(m, sigma^2 C). Each generation samples lambda candidates,
recombines the best mu = lambda / 2 with positive weights into the new mean, adapts
sigma by cumulative step-size adaptation (CSA) and C by the rank-one and rank-mu
updates. C's eigendecomposition is recomputed lazily, only when the updates since the
last one have moved C enough to matter (purecma's ``lazy_gap_evals``), so a generation
costs O(n^2) per candidate on average. Candidates travel as dense float32 vectors; the
mean, C and the paths are float64. evo maximises fitness: CMA-ES minimises -fitness.

Matrix products use ``np.einsum`` (no BLAS), whose sums do not depend on BLAS threads;
the eigendecomposition is LAPACK's ``eigh``.
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
)


@dataclass(frozen=True)
class CMAESConfig(CMAConfig):
    """CMA-ES hyper-parameters."""

    name: str = option("cma_es", "the strategy")


@dataclass(frozen=True)
class CMAESState(CMAState):
    """The full covariance matrix and its (lazily refreshed) eigendecomposition."""

    covariance: np.ndarray  # (num_params, num_params) float64, C
    eigenbasis: np.ndarray  # (num_params, num_params) float64, B: columns are C's axes
    eigenvalues: np.ndarray  # (num_params,) float64, D^2
    eigen_evaluations: int  # evaluations when B and D were computed


class CMAES(CMAFamily[CMAESState]):
    """CMA-ES with weighted recombination, CSA, rank-one and rank-mu updates."""

    name = "cma_es"
    config_class = CMAESConfig
    state_class = CMAESState

    def _fresh_covariance(self, dim: int, evaluations: int) -> dict[str, Any]:
        return {
            "covariance": np.eye(dim),
            "eigenbasis": np.eye(dim),
            "eigenvalues": np.ones(dim),
            "eigen_evaluations": evaluations,
        }

    def _prepare(self, state: CMAESState) -> CMAESState:
        # purecma's update_eigensystem: B and D only when C has moved since.
        if state.evaluations <= state.eigen_evaluations + self.constants(state).eigen_gap:
            return state
        eigenvalues, eigenbasis = np.linalg.eigh(state.covariance)
        # Round-off may leave a tiny negative eigenvalue; the condition criterion catches it.
        eigenvalues = np.maximum(eigenvalues, 1e-300)
        return dataclasses.replace(
            state,
            eigenbasis=eigenbasis,
            eigenvalues=eigenvalues,
            eigen_evaluations=state.evaluations,
        )

    def _sample(self, rng: np.random.Generator, state: CMAESState) -> np.ndarray:
        dim = len(state.mean)
        normal = rng.standard_normal((state.population_size, dim))  # eq. (38): z_k
        # eq. (39): y_k = B D z_k
        return np.einsum("ij,kj->ki", state.eigenbasis, normal * np.sqrt(state.eigenvalues))

    def _whiten(self, state: CMAESState, vector: np.ndarray) -> np.ndarray:
        """C^(-1/2) vector = B D^-1 B^T vector."""
        basis = state.eigenbasis
        inner = np.einsum("ji,j->i", basis, vector) / np.sqrt(state.eigenvalues)
        return np.einsum("ij,j->i", basis, inner)

    def _update(self, state: CMAESState, steps: np.ndarray, constants: Constants) -> CMAESState:
        c = constants
        fields, _, delta = recombine_and_adapt_sigma(
            state, steps, lambda vector: self._whiten(state, vector), c
        )
        path = fields["path_covariance"]
        selected = steps[: c.parents]
        rank_one = np.outer(path, path)
        rank_mu = np.einsum("k,ki,kj->ij", c.weights, selected, selected)
        # eq. (47), with sum(w) = 1 for positive weights.
        covariance = (
            (1 + c.c_1 * delta - c.c_1 - c.c_mu) * state.covariance
            + c.c_1 * rank_one
            + c.c_mu * rank_mu
        )
        covariance = (covariance + covariance.T) / 2  # exactly symmetric for eigh
        return dataclasses.replace(state, covariance=covariance, **fields)

    def _axes(self, state: CMAESState) -> np.ndarray:
        return np.sqrt(state.eigenvalues)
