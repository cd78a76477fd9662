"""The laps a bench measures: the run loop's own steps (generations of evolution, rounds of
gradient training), timed by the step's stopwatch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from evo.bench.costs import GenerationCost, RoundCost
from evo.methods import MembersFailed, Method, Step, Stopwatch


def _steps(
    method: Method, backend: Any, state: Any, count: int
) -> Iterator[tuple[Any, Step, dict]]:
    """``count`` steps of ``method`` from ``state``: each new state, its step and its laps."""
    for generation in range(state.generation, state.generation + count):
        watch = Stopwatch()
        try:
            state, step = method.step(backend, state, generation, watch)
        except MembersFailed as failed:
            failed.evaluation.raise_for_errors(generation)
            raise
        yield state, step, watch.laps


def _generations(
    method: Method, backend: Any, state: Any, count: int
) -> tuple[list[GenerationCost], list[np.ndarray], Any]:
    """Run ``count`` generations from ``state``: their costs, fitness arrays, the new state."""
    costs, fitness = [], []
    for after, step, laps in _steps(method, backend, state, count):
        state, cost = after, step.cost
        costs.append(
            GenerationCost(
                wall_s=laps["ask"] + laps["evaluate"] + laps["tell"],
                evaluate_s=laps["evaluate"],
                longest_task_s=cost.longest_task_s,
                strategy_s=laps["ask"] + laps["tell"],
                members=len(step.scores),
                bytes_sent=cost.bytes_sent,
                bytes_received=cost.bytes_received,
                transfer_bytes=cost.transfer_bytes,
                env_steps=step.env_steps,
                tasks=cost.tasks,
            )
        )
        fitness.append(step.scores)
    return costs, fitness, state


def _rounds(method: Method, backend: Any, state: Any, count: int) -> tuple[list[RoundCost], Any]:
    """Run ``count`` rounds of gradient training from ``state``: their costs, the new state."""
    costs = []
    for after, step, laps in _steps(method, backend, state, count):
        state = after
        costs.append(
            RoundCost(
                wall_s=laps["ask"] + laps["evaluate"] + laps["tell"],
                compute_wall_s=laps["evaluate"],
                longest_task_s=step.cost.longest_task_s,
                step_s=laps["ask"] + laps["tell"],
                bytes_sent=step.cost.bytes_sent,
                bytes_received=step.cost.bytes_received,
            )
        )
    return costs, state
