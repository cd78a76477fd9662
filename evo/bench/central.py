"""The central step alone: a strategy's ask + tell at a given population and parameter count.

``python -m evo.bench.central [--population 1000] [--params 10000] [--repeats 7]``
prints, per strategy, the median milliseconds of ``ask`` and of ``tell`` over the
repeats (after one unmeasured generation for imports and compilation), and the
median of the two together. The fitness is random: the step's cost does not depend
on it. Nothing is evaluated, so this is the orchestrator's own cost per generation.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from evo.strategies import REGISTRY, Strategy

STRATEGIES = ("openai_es", "pgpe", "snes", "ars")


@dataclass(frozen=True)
class CentralCost:
    """Median milliseconds of one strategy's ask, tell and both, at one size."""

    strategy: str
    population: int
    num_params: int
    ask_ms: float
    tell_ms: float
    step_ms: float


def _strategy(name: str, population: int) -> Strategy:
    cls = REGISTRY[name]
    if name == "ars":
        return cls(cls.config_class(directions=population // 2))
    return cls(cls.config_class(population_size=population))


def bench_central(
    name: str, population: int = 1000, num_params: int = 10_000, repeats: int = 7
) -> CentralCost:
    """Median ask, tell and ask + tell milliseconds of strategy ``name`` over ``repeats``
    generations (after one unmeasured)."""
    strategy = _strategy(name, population)
    rng = np.random.default_rng(0)
    state = strategy.init(rng, rng.standard_normal(num_params).astype(np.float32))
    asks, tells, steps = [], [], []
    for generation in range(repeats + 1):
        started = time.perf_counter()
        members, state = strategy.ask(np.random.default_rng(generation), state)
        asked = time.perf_counter()
        fitness = rng.standard_normal(members.size)
        state, _ = strategy.tell(state, members, fitness)
        told = time.perf_counter()
        if generation:  # the first pays for imports and compilation
            asks.append(asked - started)
            tells.append(told - asked)
            steps.append(told - started)
    return CentralCost(
        name,
        population,
        num_params,
        1e3 * statistics.median(asks),
        1e3 * statistics.median(tells),
        1e3 * statistics.median(steps),
    )


def main(argv: list[str] | None = None) -> None:
    """Print the central step's cost of each strategy."""
    parser = argparse.ArgumentParser(prog="python -m evo.bench.central", description=__doc__)
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--params", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args(argv)
    print(
        f"ask + tell, population {args.population}, {args.params:,} parameters, medians of "
        f"{args.repeats}"
    )
    for name in args.strategies.split(","):
        cost = bench_central(name, args.population, args.params, args.repeats)
        print(
            f"{name:10s} ask {cost.ask_ms:8.2f} ms  tell {cost.tell_ms:8.2f} ms  "
            f"ask+tell {cost.step_ms:8.2f} ms"
        )


if __name__ == "__main__":
    main()
