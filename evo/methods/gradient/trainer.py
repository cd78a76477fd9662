"""Data-parallel training of the MLP on a data set, exact whatever the number of workers.

The training set is cut into ``shards`` fixed, contiguous parts (a power of
two). Each step takes ``batch_size / shards`` examples from every shard, in an
order drawn per (run seed, epoch, shard); a task computes the gradient *sums*
of a block of shards and adds them pairwise; the orchestrator adds the blocks'
sums the same pairwise way and divides by the total count. The tree of
additions is fixed by the shards, not by the tasks (blocks are aligned
power-of-two runs of shards), so serial, 1 and N workers give the same bits.

With ``local_steps`` H > 1 (local SGD), each shard's replica takes H plain SGD
steps from the current parameters on its own examples; a task returns the sum
over its replicas of the gradient sums they took, and the orchestrator feeds
their mean (the "pseudo-gradient") to the optimizer. With plain SGD that is
model averaging; with H = 1 it is exactly synchronous training.

Work per task: a block of shards for one round, a few integers; the data is
loaded on the worker from its source (:func:`evo.datasets.load`, cached), never
shipped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from evo.backends.base import TaskRun
from evo.config import ExperimentConfig, GradientConfig
from evo.methods.base import Step, Stopwatch
from evo.methods.gradient.heads import softmax_cross_entropy
from evo.optim import norm, optimizer_step
from evo.policies import MLPSpec
from evo.seeding import SHARD_STREAM, init_rng, stream_rng
from evo.strategies.base import State

T = TypeVar("T")
# A shard's examples go through the network this many at a time (their sums added in
# order): activations that fit in cache run faster, and two workers on one machine
# contend less for memory (on the wide spiral net: 46 -> 36 ms a 4,096-example shard).
ROW_BLOCK = 512


@dataclass(frozen=True)
class GradientState(State):
    """Parameters (float64) and the optimizer's state, after ``generation`` rounds."""

    params: np.ndarray  # (num_params,) float64: the policy, then any value baseline
    first: np.ndarray  # SGD velocity, or Adam's first moment
    second: np.ndarray  # Adam's second moment (zeros for SGD)
    opt_step: int


@dataclass(frozen=True)
class GradientResult:
    """Sums over a task's samples: the gradient, the loss and the counts."""

    grad: np.ndarray  # (num_params,) float64, summed over samples
    loss: float  # summed over samples
    count: int  # samples
    correct: int = 0  # classification: samples predicted right
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))  # envs: per episode
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seconds: float = field(default=0.0, compare=False)
    worker: str = field(default="", compare=False)
    transfer_total: int = field(default=0, compare=False)

    @property
    def nbytes(self) -> int:
        """Payload size of the result's arrays."""
        return self.grad.nbytes + self.returns.nbytes + self.steps.nbytes + 24


def tree_sum(values: Sequence[T]) -> T:
    """``values`` added pairwise, halves first: the same tree for any aligned split."""
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    return tree_sum(values[:half]) + tree_sum(values[half:])  # type: ignore[operator]


def combine(parts: Sequence[GradientResult]) -> GradientResult:
    """Results of consecutive shards (or blocks) as one, added in the fixed tree order."""
    return GradientResult(
        grad=tree_sum([p.grad for p in parts]),
        loss=tree_sum([p.loss for p in parts]),
        count=sum(p.count for p in parts),
        correct=sum(p.correct for p in parts),
        returns=np.concatenate([p.returns for p in parts]),
        steps=np.concatenate([p.steps for p in parts]),
        seconds=sum(p.seconds for p in parts),
    )


@dataclass(frozen=True)
class ShardWork:
    """A task: shards ``[first, last)`` at round ``round``."""

    first: int
    last: int
    round: int


def shard_blocks(shards: int, threads: int, round_: int) -> list[ShardWork]:
    """The round's tasks: as many aligned blocks as the largest power of two of threads."""
    tasks = min(shards, 1 << max(0, int(math.log2(max(threads, 1)))))
    size = shards // tasks
    return [ShardWork(i * size, (i + 1) * size, round_) for i in range(tasks)]


@dataclass(frozen=True)
class SupervisedProblem:
    """What a worker needs to compute a block's gradient sums on a data set."""

    dataset: str
    spec: MLPSpec
    seed: int
    train_size: int
    shards: int
    shard_batch: int  # examples per shard and step
    local_steps: int
    learning_rate: float  # of the local SGD steps

    def shard_range(self, shard: int) -> tuple[int, int]:
        """Rows ``[lo, hi)`` of the training split that ``shard`` holds."""
        return (
            shard * self.train_size // self.shards,
            (shard + 1) * self.train_size // self.shards,
        )

    @property
    def steps_per_epoch(self) -> int:
        """Steps until the smallest shard has served all its examples once."""
        return (self.train_size // self.shards) // self.shard_batch

    def batch_rows(self, shard: int, step: int) -> np.ndarray:
        """The shard's examples (indices within the shard) for global step ``step``."""
        epoch, position = divmod(step, self.steps_per_epoch)
        lo, hi = self.shard_range(shard)
        order = stream_rng(self.seed, SHARD_STREAM, epoch, shard).permutation(hi - lo)
        return order[position * self.shard_batch : (position + 1) * self.shard_batch]


def supervised_task(problem: SupervisedProblem, params: np.ndarray, work: ShardWork) -> Any:
    """Gradient sums of the cross-entropy over a block of shards (runs on a worker)."""
    from evo.datasets import load

    start = time.perf_counter()
    spec, parts = problem.spec, []
    for shard in range(work.first, work.last):
        lo, hi = problem.shard_range(shard)
        inputs, labels = load(problem.dataset, "train", lo, hi)
        theta, grads, loss, correct, count = params, [], 0.0, 0, 0
        for local in range(problem.local_steps):
            rows = problem.batch_rows(shard, work.round * problem.local_steps + local)
            step_grad = None
            for block in range(0, len(rows), ROW_BLOCK):  # cache-sized blocks, in order
                part = rows[block : block + ROW_BLOCK]
                trace = spec.trace(theta, inputs[part])
                block_loss, d_logits = softmax_cross_entropy(trace[-1], labels[part])
                block_grad = spec.backward(theta, trace, d_logits)
                step_grad = block_grad if step_grad is None else step_grad + block_grad
                loss += block_loss
                correct += int(np.count_nonzero(trace[-1].argmax(axis=1) == labels[part]))
            grads.append(step_grad)
            count += len(rows)
            if local + 1 < problem.local_steps:
                theta = theta - problem.learning_rate * grads[-1] / len(rows)
        grad = grads[0] if len(grads) == 1 else np.sum(grads, axis=0)
        parts.append(GradientResult(grad=grad, loss=loss, count=count, correct=correct))
    return dataclasses.replace(combine(parts), seconds=time.perf_counter() - start)


@dataclass(frozen=True)
class RoundCost:
    """Where a round's time went: planning, the backend's tasks, the orchestrator's step."""

    ask_s: float
    evaluate_s: float
    tell_s: float


class PlannedRounds:
    """A round that is one batch of tasks: plan, map on the backend, reduce and step; as a
    method of the loop (see :class:`evo.methods.base.Method`), one round a step."""

    task: Any
    problem: Any
    config: GradientConfig
    spec: MLPSpec
    name: str
    rounds: int
    forward_per_sample: int

    @property
    def generations(self) -> int:
        """The rounds the loop runs at most."""
        return self.rounds

    def init(self, seed: int) -> GradientState:
        """The state before the first round, from evolution's initial parameters."""
        return self.start(self.spec.initial_params(init_rng(seed)))

    def start(self, params: np.ndarray) -> GradientState:
        """The state before the first round, from ``params``."""
        raise NotImplementedError

    def step(
        self, backend: Any, state: GradientState, generation: int, watch: Stopwatch
    ) -> tuple[GradientState, Step]:
        """One round; its split: plan (ask), its tasks (evaluate), reduce and step (tell).
        A round's line has the evolution line's keys, its scores in the fitness columns
        (minus the batch loss on a data set, episode returns on an env)."""
        before = state
        state, info, run, cost = self.round(backend, state)
        watch.split("ask", cost.ask_s)
        watch.split("evaluate", cost.evaluate_s)
        watch.lap("tell")
        scores = info.pop("scores")
        examples = int(info.pop("examples", 0))
        episodes = int(info.pop("episodes", 0))
        columns = {"mode": "gradient", "episodes": episodes, "longest_task_s": run.longest_task_s}
        return state, Step(
            scores=scores,
            cost=run,
            scored=self.solution(before),
            solution_fitness=float(np.mean(scores)),
            evaluations=examples or episodes,
            env_steps=int(info.pop("env_steps", 0)),
            columns=columns | info,
            events=list(run.events),
        )

    def solution(self, state: GradientState) -> np.ndarray:
        """The policy part of the trained vector."""
        return state.params[: self.spec.num_params]

    def final_params(self, state: GradientState, reached: np.ndarray | None) -> np.ndarray:
        """The trained parameters at the end, as the policy's float32."""
        return np.asarray(self.solution(state), dtype=np.float32)

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Forward-equivalent passes: on an env, env steps."""
        return env_steps

    def round(
        self, backend: Any, state: GradientState
    ) -> tuple[GradientState, dict[str, Any], TaskRun, RoundCost]:
        """One round on ``backend``: the new state, its figures, its tasks and timing."""
        start = time.perf_counter()
        work = self.plan(state, backend.start_round())
        planned = time.perf_counter()
        run = backend.map(self.task, self.problem, state.params, work, state.generation)
        ran = time.perf_counter()
        state, info = self.tell(state, run.results)
        cost = RoundCost(planned - start, ran - planned, time.perf_counter() - ran)
        return state, info, run, cost

    def plan(self, state: GradientState, threads: int) -> list[ShardWork]:
        """This round's tasks: aligned blocks of the shards."""
        return shard_blocks(self.config.shards, threads, state.generation)

    def tell(
        self, state: GradientState, results: list[GradientResult]
    ) -> tuple[GradientState, dict[str, Any]]:
        raise NotImplementedError

    def update(self, state: GradientState, gradient: np.ndarray) -> tuple[GradientState, float]:
        """The optimizer's step with ``gradient`` (the round not yet counted), and its norm."""
        params, first, second, update = optimizer_step(
            self.config, state.params, gradient, state.first, state.second, state.opt_step
        )
        moved = dataclasses.replace(
            state, params=params, first=first, second=second, opt_step=state.opt_step + 1
        )
        return moved, update


def fresh_state(params: np.ndarray, best: np.ndarray) -> GradientState:
    """Round 0: ``params`` (float64) to train, ``best`` (float32) the best so far, optimizer
    state zero."""
    zeros = np.zeros_like(params)
    return GradientState(0, best, -np.inf, params, zeros, zeros.copy(), 0)


class SupervisedTrainer(PlannedRounds):
    """The orchestrator's side: plans a round's tasks, reduces them, steps the optimizer."""

    state_class = GradientState
    task = staticmethod(supervised_task)

    def __init__(self, config: ExperimentConfig, spec: MLPSpec, train_size: int) -> None:
        gradient: GradientConfig = config.gradient
        self.config = gradient
        self.name = gradient.optimizer
        self.spec = spec
        self.problem = SupervisedProblem(
            dataset=config.data.name,  # type: ignore[attr-defined]
            spec=spec,
            seed=config.seed or 0,
            train_size=train_size,
            shards=gradient.shards,
            shard_batch=gradient.batch_size // gradient.shards,
            local_steps=gradient.local_steps,
            learning_rate=gradient.learning_rate,
        )
        per_round = self.problem.steps_per_epoch * 1.0 / gradient.local_steps
        self.rounds = (
            config.generations
            if gradient.epochs is None
            else max(1, math.ceil(gradient.epochs * per_round))
        )
        self.forward_per_sample = 3  # a backward pass costs about two forward passes

    def samples(self, evaluations: int, env_steps: int) -> int:
        """A data set's examples count three times: a backward pass costs about two
        forward ones."""
        return evaluations * self.forward_per_sample

    def start(self, params: np.ndarray) -> GradientState:
        """Start from the evolution's initial parameters, in float64."""
        params = np.asarray(params, dtype=np.float64).copy()
        return fresh_state(params, params.astype(np.float32))

    def tell(
        self, state: GradientState, results: list[GradientResult]
    ) -> tuple[GradientState, dict[str, Any]]:
        """Reduce the blocks in order, take the optimizer step."""
        total = combine(results)
        # Local SGD: the sum of each replica's H steps' gradients over one step's examples
        # (the replicas' mean displacement over the learning rate); H = 1: the mean gradient.
        gradient = total.grad / (total.count // self.problem.local_steps)
        moved, update = self.update(state, gradient)
        score = -total.loss / total.count
        better = score > state.best_fitness
        state = dataclasses.replace(
            moved,
            generation=state.generation + 1,
            best_fitness=score if better else state.best_fitness,
            best_params=state.params.astype(np.float32) if better else state.best_params,
        )
        return state, {
            "scores": np.array([score]),
            "loss": total.loss / total.count,
            "accuracy": total.correct / total.count,
            "examples": total.count,
            "gradient_norm": norm(gradient),
            "update_norm": update,
            "param_norm": norm(state.params),
        }
