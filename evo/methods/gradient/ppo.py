"""PPO (Schulman, Wolski, Dhariwal, Radford & Klimov 2017) on the policy-gradient shards:
clipped surrogate, generalised advantage estimation, advantages normalised from sums.

A round's episodes stay on the workers that played them (:meth:`Backend.persist`);
the passes of minibatch steps send only the parameters.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from evo.backends.base import TaskRun
from evo.config import GradientConfig
from evo.methods.gradient.rl import (
    PolicyGradientProblem,
    PolicyGradientTrainer,
    ShardRollout,
    play_shard,
    shard_gradients,
)
from evo.methods.gradient.trainer import (
    GradientResult,
    GradientState,
    RoundCost,
    ShardWork,
    combine,
)
from evo.optim import norm
from evo.seeding import PPO_STREAM, stream_rng


def ppo_rollout_task(
    problem: PolicyGradientProblem, params: np.ndarray, work: ShardWork
) -> tuple[ShardWork, list[ShardRollout]]:
    """PPO: play a block of shards' episodes and keep them (on the worker, as a future)."""
    rollouts = [
        play_shard(problem, params, work.round, shard, problem.gae_lambda)
        for shard in range(work.first, work.last)
    ]
    return work, rollouts


def ppo_stats_task(
    problem: PolicyGradientProblem, params: np.ndarray, payload: tuple
) -> GradientResult:
    """The block's episodes and the sums of its advantages and their squares (in ``grad``),
    for the round's normalisation."""
    start = time.perf_counter()
    ((_, rollouts),) = payload
    parts = [
        GradientResult(
            grad=np.array([r.advantages.sum(), (r.advantages * r.advantages).sum()]),
            loss=0.0,
            count=len(r.advantages),
            returns=r.returns,
            steps=r.steps,
        )
        for r in rollouts
    ]
    return dataclasses.replace(combine(parts), seconds=time.perf_counter() - start)


def ppo_gradient_task(
    problem: PolicyGradientProblem, params: np.ndarray, payload: tuple
) -> GradientResult:
    """Gradient sums of one PPO minibatch: in every shard of the block, the ``minibatch``-th
    part of its steps in the pass's order, drawn from (seed, round, pass, shard)."""
    start = time.perf_counter()
    (work, rollouts), epoch, minibatch, mean, std = payload
    parts = []
    for shard, rollout in zip(range(work.first, work.last), rollouts, strict=True):
        order = stream_rng(problem.seed, PPO_STREAM, work.round, epoch, shard).permutation(
            len(rollout.advantages)
        )
        rows = np.array_split(order, problem.minibatches)[minibatch]
        parts.append(shard_gradients(problem, params, rollout, rows, (problem.clip, mean, std)))
    return dataclasses.replace(combine(parts), seconds=time.perf_counter() - start)


class PPOTrainer(PolicyGradientTrainer):
    """PPO (Schulman et al. 2017), data-parallel and exact.

    A round plays its episodes with the current policy as one task per block of
    shards, whose results stay on the workers (:meth:`Backend.persist`); the
    advantages' mean and std come back as sums; then ``ppo_epochs`` passes of
    ``minibatches`` optimizer steps each send only the parameters: every
    minibatch task runs where its block's episodes are (Dask places it by its
    input, and recomputes the episodes if their worker died) and returns the
    gradient sums of its part of each shard's steps.
    """

    def method_options(self, gradient: GradientConfig) -> dict[str, Any]:
        """GAE, clipping and minibatches."""
        return {
            "gae_lambda": gradient.gae_lambda,
            "clip": gradient.clip,
            "minibatches": gradient.minibatches,
        }

    def round(
        self, backend: Any, state: GradientState
    ) -> tuple[GradientState, dict[str, Any], TaskRun, RoundCost]:
        """Play, then the passes of minibatch steps."""
        start = time.perf_counter()
        blocks = self.plan(state, backend.start_round())
        round_ = state.generation
        played = backend.persist(ppo_rollout_task, self.problem, state.params, blocks)
        runs, stepping = [], 0.0
        try:
            runs.append(
                backend.map(
                    ppo_stats_task, self.problem, state.params, [(p,) for p in played], round_
                )
            )
            episodes = combine(runs[0].results)
            mean = float(episodes.grad[0]) / episodes.count
            std = float(np.sqrt(max(float(episodes.grad[1]) / episodes.count - mean * mean, 0.0)))
            std += 1e-8
            moved, losses = state, []
            for epoch in range(self.config.ppo_epochs):
                for minibatch in range(self.config.minibatches):
                    payloads = [(p, epoch, minibatch, mean, std) for p in played]
                    run = backend.map(
                        ppo_gradient_task, self.problem, moved.params, payloads, round_
                    )
                    runs.append(run)
                    stepped = time.perf_counter()
                    total = combine(run.results)
                    moved, _ = self.update(moved, total.grad / total.count)
                    losses.append(total.loss / total.count)
                    stepping += time.perf_counter() - stepped
        finally:
            backend.release(played)
        stepped = time.perf_counter()
        info = {
            "loss": float(np.mean(losses)),
            "update_norm": norm(moved.params - state.params),
            "optimizer_steps": len(losses),
        }
        state, info = self.finish_round(state, moved, episodes, info)
        stepping += time.perf_counter() - stepped
        total_s = time.perf_counter() - start
        cost = RoundCost(0.0, total_s - stepping, stepping)
        return state, info, TaskRun.merge(runs), cost
