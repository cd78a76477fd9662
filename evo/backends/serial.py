"""In-process evaluation: the reference every other backend must match bit for bit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from evo.backends.base import Evaluation, TaskRun, assemble, make_chunks, plan_chunks
from evo.config import BackendConfig
from evo.interrupts import poll
from evo.population import Population
from evo.problems.base import Problem, evaluate_chunk
from evo.problems.normalization import Normalizer


class SerialBackend:
    """Evaluates chunks one after another in this process."""

    workers = 1

    def __init__(self, problem: Problem, config: BackendConfig) -> None:
        self.problem = problem
        self.config = config
        self._prepared = False

    def evaluate(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None = None,
    ) -> Evaluation:
        """Fitness of every member, in member order (playing with ``normalizer``, if any)."""
        if not self._prepared:  # compiled code loads first: the noise table builds meanwhile
            self._prepared = True
            prepare = getattr(self.problem, "prepare_worker", None)
            if prepare is not None:
                with contextlib.suppress(Exception):  # a failing env fails in the evaluation
                    prepare()
        plan = plan_chunks(population.members, self.config.chunk_size, slots=0)
        chunks = make_chunks(population, episode_seeds, plan, normalizer)
        results = []
        for chunk in chunks:
            poll()  # a sweep stopping this experiment (its thread gets no signal)
            results.append(evaluate_chunk(self.problem, population.shared, chunk))
        return assemble(population.size, results, workers=1)

    def start_round(self) -> int:
        """A gradient round begins: one thread, everything runs here."""
        return 1

    def map(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
    ) -> TaskRun:
        """Each task in turn, in this process."""
        return TaskRun.local([function(problem, shared, payload) for payload in payloads])

    def persist(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
    ) -> list:
        """The results themselves, computed now."""
        return [function(problem, shared, payload) for payload in payloads]

    def release(self, refs: list) -> None:
        """Nothing held beyond the list."""

    def describe(self) -> str:
        """One line for the console."""
        return "serial backend (in-process)"

    def close(self) -> None:
        """Nothing to release."""
