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
from evo.evaluation import Problem, cached_envs, cached_vector_env
from evo.gradient.heads import gaussian_nll, softmax_cross_entropy, squared_error
from evo.gradient.optim import optimizer_step
from evo.gradient.trainer import (
    GradientResult,
    GradientState,
    ShardWork,
    combine,
    shard_blocks,
)
from evo.policies import MLPSpec, flatten_observation
from evo.seeding import ACTION_STREAM, INIT_STREAM, episode_seeds, stream_rng


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
    if problem.vectorized:
        vector_env = cached_vector_env(problem.env, count)
        obs, _ = vector_env.reset(seed=[int(s) for s in seeds])
        obs = np.asarray(obs, dtype=np.float64).reshape(count, -1)
    else:
        envs = cached_envs(problem.env, count)
        space = envs[0].observation_space
        obs = np.stack(
            [
                flatten_observation(space, env.reset(seed=int(s))[0])
                for env, s in zip(envs, seeds, strict=True)
            ]
        ).astype(np.float64)
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
        rewards = np.zeros(count)
        ended = np.zeros(count, dtype=bool)
        if problem.vectorized:
            next_obs, step_rewards, terminated, truncated, _ = vector_env.step(env_actions)
            rewards[:] = np.where(alive, step_rewards, 0.0)
            ended[:] = np.logical_or(terminated, truncated)
            next_obs = np.asarray(next_obs, dtype=np.float64).reshape(count, -1)
        else:
            next_obs = obs.copy()
            for i in np.flatnonzero(alive):
                action = env_actions[i]
                observation, reward, terminated, truncated, _ = envs[i].step(
                    action.item() if np.ndim(action) == 0 else action
                )
                rewards[i] = float(reward)
                ended[i] = terminated or truncated
                next_obs[i] = flatten_observation(space, observation)
        for store, value in zip(history, (obs, sampled, rewards, alive.copy()), strict=True):
            store.append(value)
        alive &= ~ended
        obs = next_obs
    return tuple(np.stack(h) for h in history)  # type: ignore[return-value]


def policy_gradient_task(
    problem: PolicyGradientProblem, params: np.ndarray, work: ShardWork
) -> GradientResult:
    """Play a block of shards' episodes and return gradient sums (runs on a worker)."""
    start = time.perf_counter()
    spec, value_spec = problem.spec, problem.value_spec
    policy, value = params[: spec.num_params], params[spec.num_params :]
    parts = []
    for shard in range(work.first, work.last):
        first = shard * problem.episodes_per_shard
        episodes = np.arange(first, first + problem.episodes_per_shard)
        seeds = episode_seeds(problem.seed, work.round, episodes, 1)[:, 0]
        rngs = [stream_rng(problem.seed, ACTION_STREAM, work.round, int(e)) for e in episodes]
        obs, actions, rewards, alive = _rollouts(problem, policy, seeds, rngs)
        returns_to_go = np.zeros_like(rewards)
        running = np.zeros(rewards.shape[1])
        for t in range(len(rewards) - 1, -1, -1):
            running = rewards[t] + problem.gamma * running * alive[t]
            returns_to_go[t] = running
        steps_at = np.nonzero(alive.T)  # episode-major: each episode's steps in order
        states = obs.transpose(1, 0, 2)[steps_at]
        targets = returns_to_go.T[steps_at]
        value_trace = value_spec.trace(value, states)
        baseline = value_trace[-1][:, 0]
        advantages = targets - baseline if problem.value_coef else targets
        policy_trace = spec.trace(policy, states)
        taken = actions.transpose(1, 0, *range(2, actions.ndim))[steps_at]
        if spec.action == "discrete":
            loss, d_out = softmax_cross_entropy(policy_trace[-1], taken, advantages)
        else:
            loss, d_out = gaussian_nll(policy_trace[-1], taken, problem.log_std, advantages)
        grads = [spec.backward(policy, policy_trace, d_out)]
        value_loss, d_value = squared_error(
            value_trace[-1], targets, np.full(len(targets), problem.value_coef)
        )
        grads.append(value_spec.backward(value, value_trace, d_value))
        parts.append(
            GradientResult(
                grad=np.concatenate(grads),
                loss=loss + value_loss,
                count=len(targets),
                returns=rewards.sum(axis=0),
                steps=alive.sum(axis=0).astype(np.int64),
            )
        )
    return dataclasses.replace(combine(parts), seconds=time.perf_counter() - start)


class PolicyGradientTrainer:
    """The orchestrator's side of policy gradient: plan the round's episodes, step."""

    state_class = GradientState
    task = staticmethod(policy_gradient_task)
    forward_per_sample = 1  # unused: env runs count env steps as samples

    def __init__(self, config: ExperimentConfig, problem: Problem) -> None:
        gradient: GradientConfig = config.gradient
        spec = problem.policy
        assert isinstance(spec, MLPSpec)
        self.config, self.spec = gradient, spec
        self.name = f"reinforce_{gradient.optimizer}"
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
        )
        self.seed = config.seed or 0

    def init(self, params: np.ndarray) -> GradientState:
        """The evolution's initial policy, and a value network from its own stream."""
        rng = stream_rng(self.seed, INIT_STREAM, 1)
        value = self.problem.value_spec.initial_params(rng)
        full = np.concatenate([np.asarray(params, dtype=np.float64), value.astype(np.float64)])
        zeros = np.zeros_like(full)
        best = np.asarray(params, dtype=np.float32).copy()
        return GradientState(0, best, -np.inf, full, zeros, zeros.copy(), 0)

    def plan(self, state: GradientState, threads: int) -> list[ShardWork]:
        """This round's tasks."""
        return shard_blocks(self.config.shards, threads, state.generation)

    def tell(
        self, state: GradientState, results: list[GradientResult]
    ) -> tuple[GradientState, dict[str, Any]]:
        """Reduce the blocks in order, take the optimizer step."""
        total = combine(results)
        gradient = total.grad / total.count
        params, first, second, update = optimizer_step(
            self.config, state.params, gradient, state.first, state.second, state.opt_step
        )
        score = float(total.returns.mean())
        better = score > state.best_fitness
        state = dataclasses.replace(
            state,
            generation=state.generation + 1,
            params=params,
            first=first,
            second=second,
            opt_step=state.opt_step + 1,
            best_fitness=score if better else state.best_fitness,
            best_params=self.solution(state).astype(np.float32) if better else state.best_params,
        )
        return state, {
            "scores": total.returns,
            "loss": total.loss / total.count,
            "episodes": len(total.returns),
            "env_steps": int(total.steps.sum()),
            "gradient_norm": float(np.linalg.norm(gradient)),
            "update_norm": update,
            "param_norm": float(np.linalg.norm(params[: self.spec.num_params])),
        }

    def solution(self, state: GradientState) -> np.ndarray:
        """The policy part of the trained vector."""
        return state.params[: self.spec.num_params]
