"""A function of the parameters as the fitness: a benchmark, or a user's own.

``function: {name: sphere, dim: 10000}`` replaces the env and the policy
network: each member's parameters are a point in ``dim`` dimensions and its
fitness is the function's value there. The built-ins are minimised (evo
maximises minus their value); a user's own function,
``function: {entry_point: "package.module:callable", dim: N}``, takes a
``(members, N)`` float32 array and returns ``(members,)`` values, maximised
unless ``minimize: true`` (``batched: false``: one ``(N,)`` vector at a time).
Workers import it by name. Built-ins cost microseconds per member, which makes
them the way to measure what the orchestrator itself costs (``evo bench``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import ExperimentConfig, FunctionConfig
from evo.errors import ConfigError
from evo.problems.base import Chunk, ChunkResult, EpisodeScores
from evo.problems.imports import entry_point_of, load_entry_point


def sphere(x: np.ndarray) -> np.ndarray:
    """Sum of squares per row (minimum 0 at the origin)."""
    return np.einsum("ij,ij->i", x, x)


def rastrigin(x: np.ndarray) -> np.ndarray:
    """Rastrigin per row: a sphere with a cosine egg-box of local minima (minimum 0 at 0)."""
    return 10.0 * x.shape[1] + (x * x - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1)


FUNCTIONS = {"sphere": sphere, "rastrigin": rastrigin}
ROWS_A_BLOCK = 32  # members a built-in function is computed for at a time


@dataclass(frozen=True)
class FunctionSpec:
    """The search space of a function: what a policy spec is for an env."""

    name: str  # a built-in's name, or the entry point of a user's function
    dim: int
    init_std: float = 1.0

    @property
    def num_params(self) -> int:
        """Dimensions of the search space."""
        return self.dim

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """A starting point: normal with ``init_std`` per coordinate (float32)."""
        return (rng.standard_normal(self.dim) * self.init_std).astype(np.float32)

    def to_json(self) -> str:
        """What ``best.npz`` records about the parameters."""
        return json.dumps({"kind": "function", "name": self.name, "dim": self.dim})


def check_function(function: FunctionConfig, path: str = "function") -> Callable | None:
    """The user's callable the section names (None for a built-in), importable here."""
    if function.entry_point is None:
        return None
    found = load_entry_point(function.entry_point, f"{path}.entry_point")
    if not callable(found):
        raise ConfigError(f"{path}.entry_point: expected a callable, found {found!r}")
    return found


@dataclass(frozen=True)
class FunctionProblem(EpisodeScores):
    """A function and which way it goes; a user's own is named by its entry point (imported
    on the worker) or, from Python, is the callable itself (pickled with the task)."""

    policy: FunctionSpec
    target: str | Callable[[np.ndarray], Any]  # a built-in's name, an entry point, a callable
    minimize: bool
    batched_call: bool = True  # the callable takes (members, dim); else one (dim,) at a time
    kind: str = "function"
    reward_threshold: float | None = None
    batched: bool = False
    splits_episodes: bool = False  # one trial a member

    @classmethod
    def from_config(
        cls, config: ExperimentConfig, fitness: Callable | None = None
    ) -> FunctionProblem:
        """The function the config names, or ``fitness`` (a callable given from Python)."""
        function = config.function
        assert function is not None
        if fitness is None:
            check_function(function)
        target: str | Callable = fitness or function.entry_point or function.name
        name = function.entry_point or (entry_point_of(fitness) if fitness else function.name)
        builtin = fitness is None and function.entry_point is None
        minimize = builtin if function.minimize is None else function.minimize
        spec = FunctionSpec(name, function.dim, function.init_std)
        return cls(spec, target, minimize, function.batched)

    @property
    def safe_in_process(self) -> bool:
        """Whether the function is one of evo's own: safe to evaluate in this process."""
        return isinstance(self.target, str) and self.target in FUNCTIONS

    def generation_seeds(self, seed: int, generation: int, size: int) -> np.ndarray:
        """A function has no episodes: one unused seed per member."""
        return np.zeros((size, 1), dtype=np.uint32)

    def values(self, params: np.ndarray) -> np.ndarray:
        """The function at each row (float64)."""
        if isinstance(self.target, str) and self.target in FUNCTIONS:
            # In float64, a block of rows at a time: a row's value is the same bits alone
            # or with others, and the blocks' copies stay in cache (a whole float64 copy of
            # 1,000 members of 10,000 parameters is 80 MB of fresh pages a generation).
            function, values = FUNCTIONS[self.target], np.empty(len(params))
            for start in range(0, len(params), ROWS_A_BLOCK):
                block = params[start : start + ROWS_A_BLOCK]
                values[start : start + ROWS_A_BLOCK] = function(np.asarray(block, np.float64))
            return values
        function = self.target
        if isinstance(function, str):
            function = load_entry_point(function, "function.entry_point")
        points = np.asarray(params, dtype=np.float32)
        if self.batched_call:
            values = np.asarray(function(points), dtype=np.float64)
        else:
            values = np.array([function(point) for point in points], dtype=np.float64)
        if values.shape != (len(points),):
            raise ValueError(
                f"{self.policy.name} returned shape {values.shape} for {len(points)} members, "
                f"expected ({len(points)},)"
            )
        return values

    def fitness(self, params: np.ndarray) -> np.ndarray:
        """The value at each row, larger is better (minus the value when minimised)."""
        values = self.values(params)
        return -values if self.minimize else values

    def evaluate(self, params: np.ndarray, chunk: Chunk) -> ChunkResult:
        """The value at each member's point; a function that raises fails every member."""
        steps = np.zeros(len(chunk.indices), dtype=np.int64)
        try:
            fitness = self.fitness(params)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            nan = np.full(len(chunk.indices), np.nan)
            errors = {int(member): message for member in chunk.indices}
            return ChunkResult(indices=chunk.indices, fitness=nan, steps=steps, errors=errors)
        return ChunkResult(indices=chunk.indices, fitness=fitness, steps=steps)

    def episodes_per_member(self) -> int:
        """One value."""
        return 1

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Evaluations of the function."""
        return evaluations

    def summary_fields(self) -> dict[str, Any]:
        """The function optimised."""
        return {"env_id": None, "function": self.policy.name, "data": None}
