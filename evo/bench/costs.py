"""What one generation or one gradient round cost on one backend, and medians of such costs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class GenerationCost:
    """What one generation cost on one backend."""

    wall_s: float  # ask + evaluate + tell
    evaluate_s: float
    longest_task_s: float
    strategy_s: float  # ask + tell
    members: int
    bytes_sent: int
    bytes_received: int
    transfer_bytes: int
    env_steps: int = 0  # steps the generation's episodes took (0: not an env)
    tasks: int = 1  # tasks the evaluation ran as (in process: one)

    @property
    def overhead_s(self) -> float:
        """Evaluation time not spent evaluating: beyond the longest task's own work."""
        return max(0.0, self.evaluate_s - self.longest_task_s)


@dataclass(frozen=True)
class RoundCost:
    """What one gradient round cost on one backend."""

    wall_s: float  # plan + compute + reduce and step
    compute_wall_s: float  # the backend's part: tasks and their traffic
    longest_task_s: float
    step_s: float  # reduction of the sums and the optimizer step, in the orchestrator
    bytes_sent: int
    bytes_received: int

    @property
    def overhead_s(self) -> float:
        """The backend's time beyond the longest task's own work."""
        return max(0.0, self.compute_wall_s - self.longest_task_s)


Cost = TypeVar("Cost", GenerationCost, RoundCost)


def median_cost(costs: Sequence[Cost]) -> Cost:
    """Field by field, the median of costs of one kind."""
    kind = type(costs[0])
    fields = kind.__dataclass_fields__
    return kind(**{name: statistics.median(getattr(c, name) for c in costs) for name in fields})
