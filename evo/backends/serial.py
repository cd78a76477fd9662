"""In-process evaluation: the reference every other backend must match bit for bit."""

from __future__ import annotations

import numpy as np

from evo.backends.base import Evaluation, assemble, make_chunks, plan_chunks
from evo.config import BackendConfig
from evo.evaluation import Problem, evaluate_chunk
from evo.interrupts import poll
from evo.population import Population


class SerialBackend:
    """Evaluates chunks one after another in this process."""

    workers = 1

    def __init__(self, problem: Problem, config: BackendConfig) -> None:
        self.problem = problem
        self.config = config

    def evaluate(
        self, population: Population, episode_seeds: np.ndarray, generation: int
    ) -> Evaluation:
        """Fitness of every member, in member order."""
        plan = plan_chunks(population.members, self.config.chunk_size, slots=0)
        chunks = make_chunks(population, episode_seeds, plan)
        results = []
        for chunk in chunks:
            poll()  # a sweep stopping this experiment (its thread gets no signal)
            results.append(evaluate_chunk(self.problem, population.bases, chunk))
        return assemble(population.size, results, workers=1)

    def describe(self) -> str:
        """One line for the console."""
        return "serial backend (in-process)"

    def close(self) -> None:
        """Nothing to release."""
