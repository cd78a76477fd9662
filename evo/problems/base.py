"""The problem protocol: what a worker evaluates, and what a run asks of its fitness.

A problem is everything constant over a run that a worker needs to score
members: a gymnasium env (:mod:`evo.problems.env`), a data set
(:mod:`evo.problems.data`) or a function of the parameters
(:mod:`evo.problems.function`). It travels with every task, so it is small,
frozen and picklable; what is costly to build (envs, data) is rebuilt on the
worker from it and cached there.

A task is a pure function of its inputs (the problem, the generation's base
vectors, the chunk's member records and seeds), so Dask may run it anywhere,
twice, or again after a worker died, and get the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from evo.population import Bases, Members, materialize

# ``evaluate(params, episode_seeds) -> fitness`` of some parameter vectors, spread over
# the run's backend like members (the final evaluation, a stop confirmation).
EvaluateParams = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Chunk:
    """Some members of one generation: their indices, records and episode seeds."""

    indices: np.ndarray  # (m,) member indices in the population
    members: Members
    episode_seeds: np.ndarray  # (m, episodes) uint32

    @property
    def nbytes(self) -> int:
        """Payload size of the chunk's arrays."""
        return self.indices.nbytes + self.members.nbytes + self.episode_seeds.nbytes


@dataclass(frozen=True)
class ChunkResult:
    """Per-member fitness (mean episode return) and episode steps, plus timing."""

    indices: np.ndarray  # (m,)
    fitness: np.ndarray  # (m,) float64
    steps: np.ndarray  # (m,) int64, summed over the member's episodes
    errors: dict[int, str] = field(default_factory=dict)  # member index -> what its env raised
    seconds: float = field(default=0.0, compare=False)
    worker: str = field(default="", compare=False)  # the Dask worker that ran it, if any
    transfer_total: int = field(default=0, compare=False)  # its Dask outgoing-bytes counter then

    @property
    def nbytes(self) -> int:
        """Payload size of the result's arrays."""
        return self.indices.nbytes + self.fitness.nbytes + self.steps.nbytes


class ParamSpace(Protocol):
    """What the parameters are: a policy network's weights, or a point of a function."""

    @property
    def num_params(self) -> int:
        """Length of a parameter vector."""
        ...

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """A starting vector (float32)."""
        ...

    def to_json(self) -> str:
        """What ``best.npz`` records to rebuild the parameters' meaning."""
        ...


class Problem(Protocol):
    """A fitness: evaluated on workers, asked by the run for its scores and records."""

    kind: str  # "env", "data" or "function": the run folder's summary says which
    policy: ParamSpace
    reward_threshold: float | None  # the score that counts as solved, if the problem has one
    batched: bool  # a chunk runs in lockstep, cheaper per member the more it holds

    def generation_seeds(self, seed: int, generation: int, size: int) -> np.ndarray:
        """Each member's episode seeds for a generation, ``(size, episodes)`` uint32."""
        ...

    def evaluate(self, params: np.ndarray, chunk: Chunk) -> ChunkResult:
        """The chunk's members' fitness, on a worker (``params``: their vectors)."""
        ...

    def episodes_per_member(self) -> int:
        """Episodes a member's fitness averages (1 where there are none)."""
        ...

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Forward passes so far, the one budget every kind of run shares."""
        ...

    def confirm(self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams) -> float:
        """The score a solution that reached the target gets on fresh trials."""
        ...

    def final_scores(
        self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The final solution's held-out scores, and what the summary adds about them."""
        ...

    def record(self, params: np.ndarray, generation: int, last: bool) -> dict[str, Any]:
        """Columns of a metrics line about the solution (``last``: the run's last line)."""
        ...

    def summary_fields(self) -> dict[str, Any]:
        """What the run's summary says the fitness was."""
        ...


class EpisodeScores:
    """What a problem scored by its evaluations (an env, a function) does for the run: a
    confirmation and the final scores are fresh evaluations, no extra metrics columns."""

    def confirm(self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams) -> float:
        """The mean score on fresh trials."""
        return float(evaluate(params, seeds).mean())

    def final_scores(
        self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The scores of the held-out trials."""
        return evaluate(params, seeds), {}

    def record(self, params: np.ndarray, generation: int, last: bool) -> dict[str, Any]:
        """Nothing beyond the fitness columns."""
        return {}


def evaluate_chunk(problem: Problem, bases: Bases, chunk: Chunk) -> ChunkResult:
    """The task of a generation: rebuild the chunk's members from the bases, score them."""
    start = time.perf_counter()
    result = problem.evaluate(materialize(bases, chunk.members), chunk)
    return ChunkResult(
        indices=result.indices,
        fitness=result.fitness,
        steps=result.steps,
        errors=result.errors,
        seconds=time.perf_counter() - start,
    )
