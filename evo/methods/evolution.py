"""Evolution as a method: a strategy asks for members, the backend evaluates them, the
strategy is told their fitness; each generation's members go to the lineage."""

from __future__ import annotations

from typing import Any

import numpy as np

from evo.backends.base import Backend, Evaluation
from evo.config import EnvConfig
from evo.methods.base import MembersFailed, Step, Stopwatch
from evo.population import Population
from evo.problems.base import Problem
from evo.seeding import init_rng, strategy_rng
from evo.strategies.base import State, Strategy

CENTRE = "centre"  # the bases are a distribution's centre (ES), not evaluated members
PARENTS = "parents"  # the bases are members of earlier generations (GA)

# Columns per member; the others (generation, incumbent, bases, spread, noise_table, workers)
# are per generation.
MEMBER_COLUMNS = (
    "base_index",
    "noise_offset",
    "scale",
    "sign",
    "parent_generation",
    "parent_member",
    "fitness",
    "steps",
    "worker",
    "task",
    "seconds",
)
# Columns that depend on where and when a generation ran, not on the run's numbers.
TIMING_COLUMNS = ("worker", "task", "seconds", "workers")


def generation_record(
    generation: int, population: Population, evaluation: Evaluation, origins: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The lineage arrays of the generation of index ``generation`` (from 0). ``origins`` is
    the strategy's :meth:`~evo.strategies.base.Strategy.base_origins` for the state that
    asked. The file numbers generations from 1 (``generation``, ``parent_generation``;
    -1: no parent member), as every file of the run folder does."""
    members, noise = population.members, population.noise
    if origins is None:
        parent = np.full((population.size, 2), -1, dtype=np.int64)
    else:
        parent = np.asarray(origins, dtype=np.int64)[members.base_index]
    return {
        "generation": np.int64(generation + 1),
        "incumbent": np.bool_(population.incumbent),
        "bases": np.array(CENTRE if origins is None else PARENTS),
        "spread": np.bool_(population.spread is not None),
        # [seed, size] of the noise table the offsets index; [0, 0]: dense members
        "noise_table": np.zeros(2, np.int64) if noise is None else noise.as_array(),
        "base_index": members.base_index,
        "noise_offset": members.noise_offset,
        "scale": members.scale,
        "sign": members.sign,
        "parent_generation": np.where(parent[:, 0] >= 0, parent[:, 0] + 1, -1).astype(np.int32),
        "parent_member": parent[:, 1].astype(np.int32),
        "fitness": np.asarray(evaluation.fitness, dtype=np.float64),
        "steps": np.asarray(evaluation.steps, dtype=np.int64),
        "worker": evaluation.member_worker,
        "task": evaluation.member_task,
        "seconds": evaluation.member_seconds,
        "workers": np.array(evaluation.worker_names, dtype=np.str_),
    }


class Evolution:
    """A strategy and the problem its members are evaluated on."""

    def __init__(
        self, strategy: Strategy, problem: Problem, seed: int, generations: int, env: EnvConfig
    ) -> None:
        self.strategy, self.problem, self.seed = strategy, problem, seed
        self.name, self.state_class = strategy.name, strategy.state_class
        self.generations = generations
        self.on_error = env.on_error
        self.reward_shift = env.reward_shift
        self.paired_seeds = env.paired_seeds
        # A noise table too short for the parameters is a bad config: found before a run starts.
        strategy.noise_table(problem.policy.num_params)

    def init(self, seed: int) -> State:
        """The strategy's state around the problem's initial parameters."""
        rng = init_rng(seed)
        return self.strategy.init(rng, self.problem.policy.initial_params(rng))

    def step(
        self, backend: Backend, state: State, generation: int, watch: Stopwatch
    ) -> tuple[State, Step]:
        """Ask, evaluate on ``backend``, tell; members that failed stop the run or score -inf."""
        strategy = self.strategy
        incumbent = strategy.solution(state)
        origins = strategy.base_origins(state)  # the lineage's parents
        population, state = strategy.ask(strategy_rng(self.seed, generation), state)
        seeds = self.problem.generation_seeds(self.seed, generation, population.size)
        if self.paired_seeds:  # a mirror image plays its pair's first member's episodes
            seeds = seeds[population.pair_leaders()]
        watch.lap("ask")
        evaluation = backend.evaluate(population, seeds, generation)
        events = list(evaluation.events)
        if evaluation.errors:
            events.append(self.failed(evaluation, state, events))
        watch.lap("evaluate")
        told = self.told(evaluation)
        state, info = strategy.tell(state, population, told, scores=evaluation.fitness)
        watch.lap("tell")
        fitness = evaluation.fitness
        # The member the target is judged on: the re-evaluated incumbent (member 0) or, for
        # strategies that do not re-evaluate it, their new solution.
        scored = incumbent if population.incumbent else strategy.solution(state)
        return state, Step(
            scores=fitness,
            cost=evaluation,
            scored=scored,
            solution_fitness=float(fitness[0]) if population.incumbent else None,
            evaluations=len(fitness),
            env_steps=int(evaluation.steps.sum()),
            failed=int(np.sum(~np.isfinite(fitness))),
            columns=info,
            events=events,
            lineage=generation_record(generation, population, evaluation, origins),
            population=population,
        )

    def told(self, evaluation: Evaluation) -> np.ndarray:
        """The fitness the strategy learns from: with ``env.reward_shift`` (ARS), each
        member's mean return less the shift times its mean episode length; the logs, the
        best so far, the stop rule and the final evaluation keep the returns themselves."""
        if not self.reward_shift:
            return evaluation.fitness
        episodes = self.problem.episodes_per_member()
        return evaluation.fitness - self.reward_shift * (evaluation.steps / episodes)

    def failed(
        self, evaluation: Evaluation, state: State, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Members whose evaluation raised: stop (default) or score them -inf."""
        if self.on_error == "stop":
            raise MembersFailed(state, events, evaluation)
        first = min(evaluation.errors)
        evaluation.fitness[list(evaluation.errors)] = -np.inf
        return {
            "event": "members_failed",
            "members": sorted(evaluation.errors),
            "first_error": evaluation.errors[first],
        }

    def solution(self, state: State) -> np.ndarray:
        """The strategy's recommendation."""
        return self.strategy.solution(state)

    def final_params(self, state: State, reached: np.ndarray | None) -> np.ndarray:
        """The parameters that reached the target, else the strategy's solution now."""
        return reached if reached is not None else self.strategy.solution(state)

    def samples(self, evaluations: int, env_steps: int) -> int:
        """As the problem counts them."""
        return self.problem.samples(evaluations, env_steps)
