"""What a run's members are scored on: an env, a data set or a function (one module each)."""

from __future__ import annotations

from collections.abc import Callable

from evo.config import ExperimentConfig
from evo.errors import ConfigError
from evo.problems.base import Chunk, ChunkResult, Problem, evaluate_chunk
from evo.problems.data import DataProblem
from evo.problems.env import EnvProblem
from evo.problems.function import FunctionProblem


def make_problem(config: ExperimentConfig, fitness: Callable | None = None) -> Problem:
    """The problem ``config`` describes, checked (env made once, data set and function
    found) before anything is written; ``fitness``: a user's callable from Python."""
    if fitness is not None and config.function is None:
        raise ConfigError(
            "function: expected a section with dim (the callable's parameters), found none"
        )
    if config.function is not None:
        return FunctionProblem.from_config(config, fitness)
    if config.data is not None:
        return DataProblem.from_config(config)
    return EnvProblem.from_config(config)


__all__ = [
    "Chunk",
    "ChunkResult",
    "DataProblem",
    "EnvProblem",
    "FunctionProblem",
    "Problem",
    "evaluate_chunk",
    "make_problem",
]
