"""Policy gradient on the same policy network: REINFORCE with a learned value baseline.

A round plays ``batch_size`` training episodes, seeded exactly as evolution
seeds its episodes (run seed, round, episode index), with actions sampled from
the policy: a softmax over the outputs (discrete actions), or a Gaussian
around them with a fixed ``log_std`` (continuous; the sample is squashed to
the action bounds as evolution's policy squashes its outputs). Each action's
random draw comes from (run seed, round, episode), so an episode plays the same
whichever task runs it.

Episodes are grouped in ``shards`` fixed groups; a task plays a block of them
in lockstep and returns the gradient sums of

    sum_t  -A_t log pi(a_t | s_t)  +  value_coef * 0.5 (V(s_t) - G_t)^2,

with G_t the discounted return from t and A_t = G_t - V(s_t), over every step
of its episodes, reduced like the supervised gradients (a fixed tree over
shards), divided by the total step count in the orchestrator. The value
network has the policy's hidden layers and one output; its parameters follow
the policy's in the trained vector. Evaluation (confirmations, the final
held-out episodes) uses the deterministic policy that evolution evaluates:
argmax, or the squashed mean.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.config import EnvConfig, ExperimentConfig, GradientConfig
from evo.methods.gradient.heads import (
    gaussian_nll,
    log_softmax,
    softmax_cross_entropy,
    squared_error,
)
from evo.methods.gradient.trainer import (
    GradientResult,
    GradientState,
    PlannedRounds,
    ShardWork,
    combine,
    fresh_state,
)
from evo.optim import norm
from evo.policies import MLPSpec
from evo.problems.env import EnvProblem
from evo.problems.rollout import Lanes
from evo.seeding import ACTION_STREAM, INIT_STREAM, episode_seeds, stream_rng


@dataclass(frozen=True)
class Played:
    """What a shard's episodes are played with (see :class:`evo.problems.rollout.Lanes`)."""

    env: EnvConfig
    policy: MLPSpec
    vectorized: bool


@dataclass(frozen=True)
class PolicyGradientProblem:
    """What a worker needs to play a block of episodes and return gradient sums."""

    env: EnvConfig
    spec: MLPSpec  # the policy, as evolution evolves it
    value_spec: MLPSpec  # the baseline: the same hidden layers, one output
    vectorized: bool
    seed: int
    episodes_per_shard: int
    gamma: float
    value_coef: float
    log_std: float
    gae_lambda: float = 1.0  # PPO's advantages (REINFORCE: Monte Carlo returns)
    clip: float = 0.2
    minibatches: int = 1


def _rollouts(
    problem: PolicyGradientProblem, policy: np.ndarray, seeds: np.ndarray, rngs: list
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Play the episodes in lockstep with sampled actions.

    Returns obs ``(T, E, obs_dim)``, sampled actions ``(T, E, ...)`` (discrete:
    indices; continuous: the unsquashed samples), rewards ``(T, E)`` and the alive
    mask ``(T, E)`` of every step taken.
    """
    spec, count = problem.spec, len(seeds)
    discrete = spec.action == "discrete"
    history: tuple[list, list, list, list] = ([], [], [], [])
    alive = np.ones(count, dtype=bool)
    lanes = Lanes(Played(problem.env, spec, problem.vectorized), count)
    first, _ = lanes.reset(seeds)
    obs = np.array(first, dtype=np.float64).reshape(count, -1)
    while alive.any():
        outputs = spec.trace(policy, obs)[-1]
        if discrete:
            probs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            draws = np.array([rng.random() for rng in rngs])
            sampled = np.minimum(
                (probs.cumsum(axis=1) < draws[:, None]).sum(axis=1), spec.out_dim - 1
            )
            env_actions = sampled + spec.action_start
        else:
            noise = np.stack([rng.standard_normal(spec.out_dim) for rng in rngs])
            sampled = outputs + np.exp(problem.log_std) * noise
            env_actions = spec.actions(sampled.astype(np.float32))
        next_obs, step_rewards, ended, _, _ = lanes.step(env_actions, alive)
        rewards = np.where(alive, step_rewards, 0.0)
        for store, value in zip(history, (obs, sampled, rewards, alive.copy()), strict=True):
            store.append(value)
        alive &= ~ended
        obs = np.array(next_obs, dtype=np.float64).reshape(count, -1)
    return tuple(np.stack(h) for h in history)  # type: ignore[return-value]


@dataclass(frozen=True)
class ShardRollout:
    """A shard's episodes, played: every step taken (episode-major), and per episode."""

    states: np.ndarray  # (N, obs_dim)
    taken: np.ndarray  # (N,) action indices, or (N, out_dim) unsquashed samples
    old_log_probs: np.ndarray  # (N,) under the policy that played
    advantages: np.ndarray  # (N,)
    targets: np.ndarray  # (N,) the value network's targets
    returns: np.ndarray  # (E,) undiscounted return of each episode
    steps: np.ndarray  # (E,) steps of each episode


def log_probs(spec: MLPSpec, outputs: np.ndarray, taken: np.ndarray, log_std: float) -> np.ndarray:
    """Log-probability of each row's action under the policy's outputs."""
    if spec.action == "discrete":
        return log_softmax(outputs)[np.arange(len(taken)), taken]
    z = (taken - outputs) * np.exp(-log_std)
    return -0.5 * (z * z).sum(axis=1) - outputs.shape[1] * (log_std + 0.5 * np.log(2 * np.pi))


def play_shard(
    problem: PolicyGradientProblem, params: np.ndarray, round_: int, shard: int, lam: float = 1.0
) -> ShardRollout:
    """Play a shard's episodes of a round and score every step taken.

    Advantages: with ``lam`` 1, the discounted return minus the value baseline
    (REINFORCE); below 1, generalised advantage estimation. An episode cut by
    its step limit counts as ended.
    """
    spec, value_spec = problem.spec, problem.value_spec
    policy, value = params[: spec.num_params], params[spec.num_params :]
    first = shard * problem.episodes_per_shard
    episodes = np.arange(first, first + problem.episodes_per_shard)
    seeds = episode_seeds(problem.seed, round_, episodes, 1)[:, 0]
    rngs = [stream_rng(problem.seed, ACTION_STREAM, round_, int(e)) for e in episodes]
    obs, actions, rewards, alive = _rollouts(problem, policy, seeds, rngs)
    steps_at = np.nonzero(alive.T)  # episode-major: each episode's steps in order
    states = obs.transpose(1, 0, 2)[steps_at]
    taken = actions.transpose(1, 0, *range(2, actions.ndim))[steps_at]
    baseline = value_spec.trace(value, states)[-1][:, 0]
    if lam == 1.0:
        returns_to_go = np.zeros_like(rewards)
        running = np.zeros(rewards.shape[1])
        for t in range(len(rewards) - 1, -1, -1):
            running = rewards[t] + problem.gamma * running * alive[t]
            returns_to_go[t] = running
        targets = returns_to_go.T[steps_at]
        advantages = targets - baseline if problem.value_coef else targets
    else:
        values = np.zeros(rewards.shape[::-1])
        values[steps_at] = baseline
        values = values.T  # (T, E), zero where the episode is over
        gae = np.zeros_like(rewards)
        running = np.zeros(rewards.shape[1])
        for t in range(len(rewards) - 1, -1, -1):
            following = values[t + 1] if t + 1 < len(rewards) else 0.0
            delta = rewards[t] + problem.gamma * following - values[t]
            running = (delta + problem.gamma * lam * running) * alive[t]
            gae[t] = running
        advantages = gae.T[steps_at]
        targets = advantages + baseline
    outputs = spec.trace(policy, states)[-1]
    return ShardRollout(
        states=states,
        taken=taken,
        old_log_probs=log_probs(spec, outputs, taken, problem.log_std),
        advantages=advantages,
        targets=targets,
        returns=rewards.sum(axis=0),
        steps=alive.sum(axis=0).astype(np.int64),
    )


def shard_gradients(
    problem: PolicyGradientProblem,
    params: np.ndarray,
    rollout: ShardRollout,
    rows: np.ndarray | slice = slice(None),
    ppo: tuple[float, float, float] | None = None,
) -> GradientResult:
    """Gradient sums over ``rows`` of a rollout: the policy's surrogate plus the value loss.

    Without ``ppo``: REINFORCE, ``-A log pi``. With ``ppo = (clip, mean, std)``: PPO's
    clipped surrogate ``-min(r A, clip(r) A)`` with A normalised by the round's mean and
    std, whose gradient is ``-A r grad log pi`` where the unclipped term is the smaller
    or the ratio is inside the range, else 0; its sum is the reported loss.
    """
    spec, value_spec = problem.spec, problem.value_spec
    policy, value = params[: spec.num_params], params[spec.num_params :]
    states, taken = rollout.states[rows], rollout.taken[rows]
    policy_trace = spec.trace(policy, states)
    outputs = policy_trace[-1]
    weights = rollout.advantages[rows]
    if ppo is not None:
        clip, mean, std = ppo
        advantages = (weights - mean) / std
        ratio = np.exp(
            log_probs(spec, outputs, taken, problem.log_std) - rollout.old_log_probs[rows]
        )
        unclipped, clipped = ratio * advantages, np.clip(ratio, 1 - clip, 1 + clip) * advantages
        active = (unclipped <= clipped) | (np.abs(ratio - 1) < clip)
        weights = advantages * ratio * active
        surrogate = -float(np.minimum(unclipped, clipped).sum())
    if spec.action == "discrete":
        loss, d_out = softmax_cross_entropy(outputs, taken, weights)
    else:
        loss, d_out = gaussian_nll(outputs, taken, problem.log_std, weights)
    if ppo is not None:
        loss = surrogate
    value_trace = value_spec.trace(value, states)
    targets = rollout.targets[rows]
    value_loss, d_value = squared_error(
        value_trace[-1], targets, np.full(len(targets), problem.value_coef)
    )
    grad = np.concatenate(
        [
            spec.backward(policy, policy_trace, d_out),
            value_spec.backward(value, value_trace, d_value),
        ]
    )
    return GradientResult(grad=grad, loss=loss + value_loss, count=len(targets))


def policy_gradient_task(
    problem: PolicyGradientProblem, params: np.ndarray, work: ShardWork
) -> GradientResult:
    """REINFORCE: play a block of shards' episodes, return gradient sums (on a worker)."""
    start = time.perf_counter()
    parts = []
    for shard in range(work.first, work.last):
        rollout = play_shard(problem, params, work.round, shard)
        gradients = shard_gradients(problem, params, rollout)
        parts.append(dataclasses.replace(gradients, returns=rollout.returns, steps=rollout.steps))
    return dataclasses.replace(combine(parts), seconds=time.perf_counter() - start)


class PolicyGradientTrainer(PlannedRounds):
    """The orchestrator's side of REINFORCE: plan the round's episodes, step."""

    state_class = GradientState
    task = staticmethod(policy_gradient_task)
    forward_per_sample = 1  # unused: env runs count env steps as samples

    def __init__(self, config: ExperimentConfig, problem: EnvProblem) -> None:
        gradient: GradientConfig = config.gradient
        spec = problem.policy
        assert isinstance(spec, MLPSpec)
        self.config, self.spec = gradient, spec
        self.name = f"{gradient.method}_{gradient.optimizer}"
        self.rounds = config.generations
        value_spec = MLPSpec(
            obs_dim=spec.obs_dim,
            hidden_sizes=spec.hidden_sizes,
            out_dim=1,
            activation=spec.activation,
            action="continuous",
            action_shape=(1,),
        )
        self.problem = PolicyGradientProblem(
            env=config.env,
            spec=spec,
            value_spec=value_spec,
            vectorized=problem.vectorized,
            seed=config.seed or 0,
            episodes_per_shard=gradient.batch_size // gradient.shards,
            gamma=gradient.gamma,
            value_coef=gradient.value_coef,
            log_std=gradient.log_std,
            **self.method_options(gradient),
        )
        self.seed = config.seed or 0

    def method_options(self, gradient: GradientConfig) -> dict[str, Any]:
        """Settings of the problem that only some methods use."""
        return {}

    def start(self, params: np.ndarray) -> GradientState:
        """The evolution's initial policy, and a value network from its own stream."""
        rng = stream_rng(self.seed, INIT_STREAM, 1)
        value = self.problem.value_spec.initial_params(rng)
        full = np.concatenate([np.asarray(params, dtype=np.float64), value.astype(np.float64)])
        return fresh_state(full, np.asarray(params, dtype=np.float32).copy())

    def tell(
        self, state: GradientState, results: list[GradientResult]
    ) -> tuple[GradientState, dict[str, Any]]:
        """Reduce the blocks in order, take the optimizer step."""
        total = combine(results)
        gradient = total.grad / total.count
        moved, update = self.update(state, gradient)
        info = {"loss": total.loss / total.count, "gradient_norm": norm(gradient)}
        return self.finish_round(state, moved, total, info | {"update_norm": update})

    def finish_round(
        self,
        before: GradientState,
        after: GradientState,
        episodes: GradientResult,
        info: dict[str, Any],
    ) -> tuple[GradientState, dict[str, Any]]:
        """The round's state (``after``'s parameters and optimizer) and figures, scored by
        its ``episodes``; the best so far are the parameters that played them."""
        score = float(episodes.returns.mean())
        better = score > before.best_fitness
        state = dataclasses.replace(
            after,
            generation=before.generation + 1,
            best_fitness=score if better else before.best_fitness,
            best_params=self.solution(before).astype(np.float32) if better else before.best_params,
        )
        return state, {
            "scores": episodes.returns,
            "episodes": len(episodes.returns),
            "env_steps": int(episodes.steps.sum()),
            **info,
            "param_norm": norm(self.solution(state)),
        }
