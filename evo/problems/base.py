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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from evo.population import Bases, Members, materialize
from evo.problems.normalization import MemberObservations, Normalizer

# ``evaluate(params, episode_seeds) -> fitness`` of some parameter vectors, spread over
# the run's backend like members (the final evaluation, a stop confirmation).
EvaluateParams = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Chunk:
    """Some members of one generation: their indices, records and episode seeds, and the
    observation normaliser they play with (the generation's, if the run normalises).

    With ``episodes`` set, the chunk plays only those of its members' episodes (columns
    of the generation's episode seeds; ``episode_seeds`` holds just them), and its result
    is a part (:attr:`ChunkResult.returns`) that :func:`join_episodes` makes whole.
    """

    indices: np.ndarray  # (m,) member indices in the population
    members: Members
    episode_seeds: np.ndarray  # (m, episodes) uint32
    normalizer: Normalizer | None = None
    episodes: np.ndarray | None = None  # (e,) the episode columns played; None: all

    @property
    def nbytes(self) -> int:
        """Payload size of the chunk's arrays."""
        normalizer = self.normalizer
        shipped = 0 if normalizer is None else normalizer.mean.nbytes + normalizer.std.nbytes
        return self.indices.nbytes + self.members.nbytes + self.episode_seeds.nbytes + shipped


@dataclass(frozen=True)
class ChunkResult:
    """Per-member fitness (mean episode return) and episode steps, plus timing; with a
    normaliser, the sums of the observations each member was fed."""

    indices: np.ndarray  # (m,)
    fitness: np.ndarray  # (m,) float64 (NaN in a part: it is made when the parts are joined)
    steps: np.ndarray  # (m,) int64, summed over the member's episodes (those played here)
    errors: dict[int, str] = field(default_factory=dict)  # member index -> what its env raised
    observations: MemberObservations | None = None
    # A part (a chunk of some episodes): their columns, each one's return and steps, (m, e).
    episodes: np.ndarray | None = None
    returns: np.ndarray | None = None
    episode_steps: np.ndarray | None = None
    seconds: float = field(default=0.0, compare=False)
    worker: str = field(default="", compare=False)  # the Dask worker that ran it, if any
    transfer_total: int = field(default=0, compare=False)  # its Dask outgoing-bytes counter then

    @property
    def nbytes(self) -> int:
        """Payload size of the result's arrays."""
        seen = 0 if self.observations is None else self.observations.nbytes
        parts = [a for a in (self.episodes, self.returns, self.episode_steps) if a is not None]
        sizes = self.indices.nbytes + self.fitness.nbytes + self.steps.nbytes
        return sizes + seen + sum(a.nbytes for a in parts)


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
    # A chunk may play some of its members' episodes (Chunk.episodes): the fitness is made
    # from the episodes' returns by episode_scores, wherever they were played.
    splits_episodes: bool

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
    return replace(result, seconds=time.perf_counter() - start, worker="", transfer_total=0)


def episode_scores(
    indices: np.ndarray,
    returns: np.ndarray,
    steps: np.ndarray,
    errors: dict[int, str],
    observations: MemberObservations | None = None,
) -> ChunkResult:
    """Fitness = mean return over each member's episodes (``returns`` ``(m, episodes)``,
    rows in ``indices`` order); a member with an error (its row in ``errors``) gets NaN.
    The one place a fitness is made from returns, so a chunk played whole and one joined
    from parts get the same float64 operations in the same order."""
    fitness = np.ascontiguousarray(returns, dtype=np.float64).mean(axis=1)
    fitness[list(errors)] = np.nan
    return ChunkResult(
        indices=indices,
        fitness=fitness,
        steps=steps.sum(axis=1),
        errors={int(indices[row]): message for row, message in errors.items()},
        observations=observations,
    )


def episode_part(
    chunk: Chunk, returns: np.ndarray, steps: np.ndarray, errors: dict[int, str]
) -> ChunkResult:
    """The result of a chunk that played some of its members' episodes: their returns and
    steps for :func:`join_episodes`, no fitness yet (``errors`` by row, as from the env)."""
    return ChunkResult(
        indices=chunk.indices,
        fitness=np.full(len(chunk.indices), np.nan),
        steps=steps.sum(axis=1),
        errors={int(chunk.indices[row]): message for row, message in errors.items()},
        episodes=chunk.episodes,
        returns=returns,
        episode_steps=steps,
    )


def join_episodes(results: list[ChunkResult]) -> list[ChunkResult]:
    """Whole results of a generation: its whole chunks' as they are, and its parts (chunks
    of some of their members' episodes, see :attr:`Chunk.episodes`) put together column by
    column into one result for the members they cover, scored by :func:`episode_scores`.

    A member's error is that of its first failing part in episode order; a part without
    returns (a member that killed its workers) makes the member's fitness -inf.
    """
    parts = [r for r in results if r.episodes is not None]
    if not parts:
        return results
    members = np.unique(np.concatenate([p.indices for p in parts]))
    episodes = 1 + max(int(p.episodes.max()) for p in parts)
    returns = np.zeros((len(members), episodes))
    steps = np.zeros((len(members), episodes), dtype=np.int64)
    killed = np.zeros(len(members), dtype=bool)
    played = np.zeros(len(members), dtype=np.int64)  # episodes each member has a return of
    failed: dict[int, tuple[int, str]] = {}  # row -> (first column of its part, message)
    for part in parts:
        rows = np.searchsorted(members, part.indices)
        if part.returns is None or part.episode_steps is None:
            killed[rows] = True
            continue
        played[rows] += len(part.episodes)
        returns[np.ix_(rows, part.episodes)] = part.returns
        steps[np.ix_(rows, part.episodes)] = part.episode_steps
        column = int(part.episodes.min())
        for member, message in part.errors.items():
            row = int(np.searchsorted(members, member))
            if row not in failed or column < failed[row][0]:
                failed[row] = (column, message)
    assert (played[~killed] == episodes).all(), "every episode of a member, exactly once"
    joined = episode_scores(members, returns, steps, {r: m for r, (_, m) in failed.items()})
    joined.fitness[killed], joined.steps[killed] = -np.inf, 0
    whole = [r for r in results if r.episodes is None]
    seconds = sum(p.seconds for p in parts)
    return [*whole, replace(joined, seconds=seconds, worker=parts[0].worker)]
