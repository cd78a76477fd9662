"""The method protocol: how a run improves its network, one generation (or round) a step.

Evolution (ask -> evaluate -> tell) and each gradient trainer implement it;
the one loop in :mod:`evo.loop`, ``evo bench`` and member rebuilds drive it the
same way. A step's :class:`Step` says what the generation did; the loop turns
it into the metrics line, the lineage and the stop decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from evo.backends.base import Backend, Evaluation, TaskRun
from evo.strategies.base import State


class Stopwatch:
    """Named laps: each is the time since the previous lap ended (or the watch started)."""

    def __init__(self) -> None:
        self.mark = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """End lap ``name`` now."""
        now = time.perf_counter()
        self.laps[name] = now - self.mark
        self.mark = now

    def split(self, name: str, seconds: float) -> None:
        """A lap timed inside a call: it ends ``seconds`` after the previous one."""
        self.laps[name] = seconds
        self.mark += seconds


@dataclass(frozen=True)
class Step:
    """What one generation or round did."""

    scores: np.ndarray  # fitness per member (a round: per episode, or the batch's score)
    cost: Evaluation | TaskRun  # the tasks: time in them, traffic, workers, re-runs
    scored: np.ndarray  # the parameters a target fitness is judged on
    solution_fitness: float | None  # their score this generation, when measured
    evaluations: int = 0  # members (or examples, episodes) scored, to add to the tally
    env_steps: int = 0
    failed: int = 0
    columns: dict[str, Any] = field(default_factory=dict)  # the method's own metrics
    events: list[dict[str, Any]] = field(default_factory=list)  # for events.jsonl
    lineage: dict[str, np.ndarray] | None = None  # the generation's members, if recorded
    population: Any = None  # what was evaluated (evolution's members)


class MembersFailed(Exception):
    """Members' evaluations raised and the config says stop: after a checkpoint of
    ``state`` (so that `evo resume` can retry once the cause is fixed)."""

    def __init__(self, state: State, events: list[dict[str, Any]], evaluation: Evaluation):
        super().__init__("members failed")
        self.state, self.events, self.evaluation = state, events, evaluation


class Method(Protocol):
    """A strategy with its evaluation, or a gradient trainer, as the loop drives it."""

    name: str  # recorded in checkpoints and the summary
    state_class: type[State]
    generations: int  # the most the loop runs (generations, or rounds)

    def init(self, seed: int) -> State:
        """The state before the first generation."""
        ...

    def step(
        self, backend: Backend, state: State, generation: int, watch: Stopwatch
    ) -> tuple[State, Step]:
        """One generation on ``backend``; laps ``ask``, ``evaluate``, ``tell`` on ``watch``."""
        ...

    def solution(self, state: State) -> np.ndarray:
        """The parameters the state stands for."""
        ...

    def final_params(self, state: State, reached: np.ndarray | None) -> np.ndarray:
        """What the final evaluation scores (``reached``: the parameters that reached the
        target, when that stopped the run)."""
        ...

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Forward-equivalent passes so far, the budget every kind of run shares."""
        ...
