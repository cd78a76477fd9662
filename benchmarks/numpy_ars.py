"""A plain numpy ARS V2-t in one process, written after the authors' code (modestyachts/ARS):
the reference `hopper-ars` and `hopper-cma` are read against (docs/benchmarks.md).

A linear policy M = 0 of the observations normalised by the running mean and standard
deviation of every state met in earlier iterations (frozen within one, a standard
deviation below 1e-7 zeroes its input), N directions of standard normal noise played at
M +/- nu delta, the top b directions by max(r+, r-) (a percentile, as the authors' code
picks them), and M += alpha / (b sigma_R) sum (r+ - r-) delta, sigma_R the spread of the
2b returns kept. Training returns lose ``--shift`` per step (the authors shift Hopper's by
the survival bonus, 1); raw actions, as the authors pass them to MuJoCo.

    python benchmarks/numpy_ars.py Hopper-v5 --seed 0 --episodes 2000

Every 10 iterations the policy plays 5 unshifted episodes (not counted), and one JSON line
is printed: iteration, training episodes so far, their mean return, seconds from start.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium
import numpy as np


class RunningStats:
    """Count, mean and sum of squared deviations of every state, merged a batch at a time."""

    def __init__(self, size: int) -> None:
        self.count, self.mean, self.m2 = 0, np.zeros(size), np.zeros(size)

    def merge(self, states: np.ndarray) -> None:
        n, mean = len(states), states.mean(axis=0)
        m2 = ((states - mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.count = total

    def frozen(self) -> tuple[np.ndarray, np.ndarray]:
        std = np.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else np.ones_like(self.mean)
        return self.mean.copy(), np.where(std < 1e-7, np.inf, std)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=2000, help="training episodes")
    parser.add_argument("--directions", type=int, default=8, help="N")
    parser.add_argument("--top", type=int, default=4, help="b")
    parser.add_argument("--step-size", type=float, default=0.01, help="alpha")
    parser.add_argument("--noise", type=float, default=0.025, help="nu")
    parser.add_argument("--shift", type=float, default=1.0, help="subtracted per step")
    args = parser.parse_args()

    env = gymnasium.make(args.env_id)
    n_obs, n_act = env.observation_space.shape[0], env.action_space.shape[0]
    rng = np.random.default_rng(args.seed)
    policy = np.zeros((n_act, n_obs))
    stats = RunningStats(n_obs)
    mean, std = np.zeros(n_obs), np.ones(n_obs)
    next_seed = args.seed * 1_000_000
    seen: list[np.ndarray] = []

    def play(weights: np.ndarray, train: bool) -> float:
        nonlocal next_seed
        obs, _ = env.reset(seed=next_seed)
        next_seed += 1
        total, done = 0.0, False
        while not done:
            if train:
                seen.append(obs)
            obs, reward, terminated, truncated, _ = env.step(weights @ ((obs - mean) / std))
            total += float(reward) - (args.shift if train else 0.0)
            done = terminated or truncated
        return total

    started, episodes, iteration = time.perf_counter(), 0, 0
    while episodes < args.episodes:
        deltas = rng.standard_normal((args.directions, n_act, n_obs))
        returns = np.array(
            [[play(policy + s * args.noise * d, True) for s in (1, -1)] for d in deltas]
        )
        episodes += 2 * args.directions
        best = returns.max(axis=1)
        kept = best >= np.percentile(best, 100 * (1 - args.top / args.directions))
        used = returns[kept] / returns[kept].std()
        step = np.tensordot(used[:, 0] - used[:, 1], deltas[kept], axes=1) / kept.sum()
        policy = policy + args.step_size * step
        stats.merge(np.array(seen))
        seen.clear()
        mean, std = stats.frozen()
        iteration += 1
        if iteration % 10 == 0:
            score = float(np.mean([play(policy, False) for _ in range(5)]))
            line = {"iteration": iteration, "episodes": episodes, "return": round(score, 2)}
            line["seconds"] = round(time.perf_counter() - started, 1)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
