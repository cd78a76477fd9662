"""A strategy in your own loop, in the style of pycma's ``es.ask()`` / ``es.tell()``.

    search = evo.Search("openai_es", x0=np.zeros(10), seed=0, population_size=32, sigma=0.1)
    for _ in range(100):
        candidates = search.ask()                         # (33, 10) float32
        search.tell(-np.sum(candidates**2, axis=1))       # higher is better
    search.solution, search.best_fitness

The numbers are those of ``evo run`` with the same strategy section and seed: the
strategy's random draws come from (seed, generation) alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evo.config import AlgorithmConfig, build
from evo.seeding import init_rng, strategy_rng
from evo.strategies import make_strategy
from evo.strategies.base import State


class Search:
    """Ask for candidates, tell their fitness (NaN: a failed evaluation, never the best)."""

    def __init__(self, algorithm: str, x0: np.ndarray, *, seed: int = 0, **options: Any) -> None:
        config = build(AlgorithmConfig, {"name": algorithm, **options}, "algorithm")
        self.strategy = make_strategy(config)
        self.seed = seed
        self.state: State = self.strategy.init(init_rng(seed), np.asarray(x0, dtype=np.float32))
        self._asked: Any = None

    def ask(self) -> np.ndarray:
        """The next generation's candidates, ``(members, dim)`` float32."""
        if self._asked is not None:
            raise RuntimeError("ask() twice without tell(): tell the fitness of the last ask")
        rng = strategy_rng(self.seed, self.state.generation)
        self._asked, self.state = self.strategy.ask(rng, self.state)
        return self._asked.params()

    def tell(self, fitness: np.ndarray) -> dict[str, Any]:
        """The fitness of each asked candidate, in order; returns the strategy's figures."""
        if self._asked is None:
            raise RuntimeError("tell() without ask(): ask for candidates first")
        self.state, info = self.strategy.tell(self.state, self._asked, np.asarray(fitness))
        self._asked = None
        return info

    @property
    def solution(self) -> np.ndarray:
        """The strategy's recommendation now (ES: the centre; GA: the top parent)."""
        return self.strategy.solution(self.state)

    @property
    def best(self) -> np.ndarray:
        """The best candidate told so far."""
        return self.state.best_params

    @property
    def best_fitness(self) -> float:
        """Its fitness (-inf before any)."""
        return self.state.best_fitness

    @property
    def generation(self) -> int:
        """Generations told so far."""
        return self.state.generation
