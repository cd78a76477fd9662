"""The laps a bench measures: generations of evolution, rounds of gradient training."""

from __future__ import annotations

import time

from evo.bench.costs import GenerationCost, RoundCost


def _generations(config, strategy, backend, state, count: int) -> tuple[list, list, object]:
    """Run ``count`` generations from ``state``: their costs, fitness arrays, the new state."""
    from evo.seeding import strategy_rng

    costs, fitness = [], []
    for generation in range(state.generation, state.generation + count):
        start = time.perf_counter()
        population, state = strategy.ask(strategy_rng(config.seed or 0, generation), state)
        seeds = backend.problem.generation_seeds(config.seed or 0, generation, population.size)
        asked = time.perf_counter()
        evaluation = backend.evaluate(population, seeds, generation)
        evaluated = time.perf_counter()
        evaluation.raise_for_errors(generation)
        state, _ = strategy.tell(state, population, evaluation.fitness)
        told = time.perf_counter()
        costs.append(
            GenerationCost(
                wall_s=told - start,
                evaluate_s=evaluated - asked,
                longest_task_s=evaluation.longest_task_s,
                strategy_s=(asked - start) + (told - evaluated),
                members=population.size,
                bytes_sent=evaluation.bytes_sent,
                bytes_received=evaluation.bytes_received,
                transfer_bytes=evaluation.transfer_bytes,
            )
        )
        fitness.append(evaluation.fitness)
    return costs, fitness, state


def _rounds(trainer, backend, state, count: int) -> tuple[list[RoundCost], object]:
    """Run ``count`` rounds of gradient training from ``state``: their costs, the new state."""
    costs = []
    for _ in range(count):
        start = time.perf_counter()
        state, _, run, split = trainer.round(backend, state)
        costs.append(
            RoundCost(
                wall_s=time.perf_counter() - start,
                compute_wall_s=split.evaluate_s,
                longest_task_s=run.longest_task_s,
                step_s=split.ask_s + split.tell_s,
                bytes_sent=run.bytes_sent,
                bytes_received=run.bytes_received,
            )
        )
    return costs, state
