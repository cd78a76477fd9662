"""The backend protocol and what every backend shares: chunking and reassembly."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from evo.errors import EvaluationError
from evo.evaluation import Chunk, ChunkResult
from evo.population import Population


@dataclass(frozen=True)
class Evaluation:
    """A generation's results in member order, with what it cost."""

    fitness: np.ndarray  # (n,) float64, mean episode return per member
    steps: np.ndarray  # (n,) int64, env steps per member
    compute_s: float  # time spent inside evaluation tasks, summed over tasks
    tasks: int
    bytes_sent: int  # payload the orchestrator serialised for this generation
    bytes_received: int
    workers: int
    errors: dict[int, str] = field(default_factory=dict)  # failed members -> message

    def raise_for_errors(self, generation: int) -> None:
        """Raise :class:`EvaluationError` naming the first failed member, if any."""
        if self.errors:
            member = min(self.errors)
            where = "the final evaluation" if generation < 0 else f"generation {generation}"
            raise EvaluationError(
                f"evaluation failed at {where}, member {member}: {self.errors[member]}"
                + (f" (and {len(self.errors) - 1} more members)" if len(self.errors) > 1 else "")
            )


class Backend(Protocol):
    """Evaluates populations; ``close()`` releases whatever it started."""

    def describe(self) -> str:
        """One line for the console: where evaluation runs."""
        ...

    def evaluate(
        self, population: Population, episode_seeds: np.ndarray, generation: int
    ) -> Evaluation:
        """Fitness of every member, in member order."""
        ...

    def close(self) -> None:
        """Stop what the backend started (clusters, clients)."""
        ...


TASKS_PER_SLOT = 4


def plan_chunks(size: int, chunk_size: Literal["auto"] | int, slots: int) -> list[np.ndarray]:
    """Member indices per task, strided (``members[i::n]``) so costly members spread out.

    ``auto`` makes four tasks per worker slot: episode lengths vary a lot (a
    crash ends early, a careful policy runs to the step limit), and with only
    one or two tasks a slot, workers sit idle waiting for the longest one
    (LunarLander: 49% of worker time busy with 2 tasks a slot, 85% with 4).
    In process (``slots=0``) it is one task: the largest lockstep batch.
    A number caps the members per task: ``ceil(size / chunk_size)`` strided tasks.
    """
    if chunk_size == "auto":
        count = TASKS_PER_SLOT * slots if slots > 0 else 1
    else:
        count = math.ceil(size / chunk_size)
    count = max(1, min(count, size))
    return [np.arange(start, size, count) for start in range(count)]


def make_chunks(
    population: Population, episode_seeds: np.ndarray, plan: list[np.ndarray]
) -> list[Chunk]:
    """The tasks' payloads for a chunk plan."""
    return [
        Chunk(indices, population.members.take(indices), episode_seeds[indices]) for indices in plan
    ]


def assemble(
    size: int,
    results: list[ChunkResult],
    *,
    workers: int,
    bytes_sent: int = 0,
    bytes_received: int = 0,
) -> Evaluation:
    """The chunks' results placed back in member order, with their cost."""
    fitness = np.full(size, np.nan)
    steps = np.zeros(size, dtype=np.int64)
    errors: dict[int, str] = {}
    for result in results:
        fitness[result.indices] = result.fitness
        steps[result.indices] = result.steps
        errors.update(result.errors)
    return Evaluation(
        fitness=fitness,
        steps=steps,
        compute_s=sum(r.seconds for r in results),
        tasks=len(results),
        bytes_sent=bytes_sent,
        bytes_received=bytes_received,
        workers=workers,
        errors=dict(sorted(errors.items())),
    )
