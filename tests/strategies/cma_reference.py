"""Evaluations to reach f < 1e-8, for evo's CMA-ES variants and for pycma on the same runs."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

import evo
from evo.strategies.cma_shared import default_population_size

TARGET = 1e-8
Objective = Callable[[np.ndarray], np.ndarray]


def sphere(x: np.ndarray) -> np.ndarray:
    """sum x_i^2."""
    return np.sum(np.asarray(x, dtype=np.float64) ** 2, axis=-1)


def ellipsoid(x: np.ndarray) -> np.ndarray:
    """sum 10^(6 (i - 1) / (n - 1)) x_i^2: condition number 1e6."""
    x = np.asarray(x, dtype=np.float64)
    scales = 10.0 ** (6 * np.arange(x.shape[-1]) / (x.shape[-1] - 1))
    return np.sum(scales * x**2, axis=-1)


def rosenbrock(x: np.ndarray) -> np.ndarray:
    """sum 100 (x_(i+1) - x_i^2)^2 + (1 - x_i)^2."""
    x = np.asarray(x, dtype=np.float64)
    return np.sum(100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)


# Start and step size of each function: the optimum at distance ~ sqrt(n) from the start.
STARTS = {"sphere": (1.0, 1.0), "ellipsoid": (1.0, 1.0), "rosenbrock": (0.0, 0.5)}
OBJECTIVES = {"sphere": sphere, "ellipsoid": ellipsoid, "rosenbrock": rosenbrock}


def evo_evaluations(strategy: str, function: str, dim: int, seed: int, budget: int) -> float:
    """Evaluations evo's ``strategy`` takes to a candidate with f < 1e-8 (inf: not in budget)."""
    start, sigma = STARTS[function]
    objective = OBJECTIVES[function]
    search = evo.Search(strategy, x0=np.full(dim, start), seed=seed, sigma=sigma)
    evaluations = 0
    while evaluations < budget:
        candidates = search.ask()
        values = objective(candidates)
        evaluations += len(values)
        search.tell(-values)  # evo maximises
        if values.min() < TARGET:
            return evaluations
    return np.inf


def pycma_evaluations(
    diagonal: bool, active: bool, function: str, dim: int, seed: int, budget: int
) -> float:
    """The same for pycma with the same population size: diagonal covariance with
    ``CMA_diagonal``; ``active`` False turns off its negative weights (evo has none)."""
    import cma

    start, sigma = STARTS[function]
    objective = OBJECTIVES[function]
    options = {
        "seed": seed + 1,  # pycma reads seed 0 as "seed from the clock"
        "popsize": default_population_size(dim),
        "verbose": -9,
        "CMA_active": active,
        "CMA_diagonal": diagonal,
    }
    optimizer = cma.CMAEvolutionStrategy(np.full(dim, start), sigma, options)
    evaluations = 0
    while evaluations < budget:
        candidates = optimizer.ask()
        values = objective(np.array(candidates))
        evaluations += len(values)
        optimizer.tell(candidates, list(values))
        if values.min() < TARGET:
            return evaluations
    return np.inf


def medians(
    strategy: str, function: str, dim: int, seeds: int, active: bool
) -> tuple[float, float]:
    """Median evaluations to 1e-8 over ``seeds`` seeds: (evo, pycma)."""
    budget = 20_000 * dim
    diagonal = strategy == "sep_cma_es"
    ours = [evo_evaluations(strategy, function, dim, seed, budget) for seed in range(seeds)]
    theirs = [
        pycma_evaluations(diagonal, active, function, dim, seed, budget) for seed in range(seeds)
    ]
    return statistics.median(ours), statistics.median(theirs)
