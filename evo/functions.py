"""Benchmark functions as fitness: the parameter vector itself is the candidate.

``function: {name: sphere, dim: 10000}`` in a config replaces the env and the
policy network: each member's parameters are a point in ``dim`` dimensions and
its fitness is minus the function's value there (evo maximises). They cost
microseconds per member, which makes them the way to measure what the
orchestrator itself costs (``evo bench``), and to test strategies at scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


def sphere(x: np.ndarray) -> np.ndarray:
    """Sum of squares per row (minimum 0 at the origin)."""
    return np.einsum("ij,ij->i", x, x)


def rastrigin(x: np.ndarray) -> np.ndarray:
    """Rastrigin per row: a sphere with a cosine egg-box of local minima (minimum 0 at 0)."""
    return 10.0 * x.shape[1] + (x * x - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1)


FUNCTIONS = {"sphere": sphere, "rastrigin": rastrigin}


@dataclass(frozen=True)
class FunctionSpec:
    """The search space of a benchmark function: what a policy spec is for an env."""

    name: str
    dim: int
    init_std: float = 1.0

    @property
    def num_params(self) -> int:
        """Dimensions of the search space."""
        return self.dim

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """A starting point: normal with ``init_std`` per coordinate (float32)."""
        return (rng.standard_normal(self.dim) * self.init_std).astype(np.float32)

    def fitness(self, params: np.ndarray) -> np.ndarray:
        """Minus the function's value at each row (float64), so larger is better."""
        return -FUNCTIONS[self.name](np.asarray(params, dtype=np.float64))

    def to_json(self) -> str:
        """What ``best.npz`` records about the parameters."""
        return json.dumps({"kind": "function", "name": self.name, "dim": self.dim})
