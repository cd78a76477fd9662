"""A plain numpy OpenAI-ES on ``multiprocessing.Pool``: the reference `evo run` is timed
against (docs/benchmarks.md). About a hundred lines, as such a script is usually written:
antithetic pairs, centered ranks, Adam, a tanh MLP, one episode per member, and the stop
rule such scripts use (the centre's mean over 10 fresh episodes at or above the target).

    python benchmarks/numpy_es.py LunarLander-v3 --target 200 --seed 0 --processes 2

Prints one JSON line: solved, seconds from start, generations, episodes, env steps.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

import gymnasium
import numpy as np

HIDDEN = 32


def shapes(env_id: str) -> tuple[int, int]:
    env = gymnasium.make(env_id)
    return env.observation_space.shape[0], env.action_space.n


def play(args: tuple[str, np.ndarray, int]) -> tuple[float, int]:
    env_id, params, seed = args
    env = play.envs.setdefault(env_id, gymnasium.make(env_id))  # type: ignore[attr-defined]
    n_in, n_out = env.observation_space.shape[0], env.action_space.n
    w1 = params[: n_in * HIDDEN].reshape(n_in, HIDDEN)
    b1 = params[n_in * HIDDEN : n_in * HIDDEN + HIDDEN]
    w2 = params[n_in * HIDDEN + HIDDEN : -n_out].reshape(HIDDEN, n_out)
    b2 = params[-n_out:]
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        action = int(np.argmax(np.tanh(obs @ w1 + b1) @ w2 + b2))
        obs, reward, terminated, truncated, _ = env.step(action)
        total, steps, done = total + float(reward), steps + 1, terminated or truncated
    return total, steps


play.envs = {}  # type: ignore[attr-defined]


def centered_ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[x.argsort()] = np.arange(len(x))
    return ranks / (len(x) - 1) - 0.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--max-time", type=float, default=300.0)
    args = parser.parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n_in, n_out = shapes(args.env)
    size = n_in * HIDDEN + HIDDEN + HIDDEN * n_out + n_out
    theta = rng.standard_normal(size) * 0.1
    m, v = np.zeros(size), np.zeros(size)
    episodes = steps = generation = 0
    solved = False
    with multiprocessing.Pool(args.processes) as pool:
        while time.perf_counter() - start < args.max_time:
            generation += 1
            eps = rng.standard_normal((args.pairs, size))
            members = np.concatenate([theta + args.sigma * eps, theta - args.sigma * eps])
            seeds = rng.integers(0, 2**31, len(members))
            results = pool.map(
                play, [(args.env, p, int(s)) for p, s in zip(members, seeds, strict=True)]
            )
            returns = np.array([r for r, _ in results])
            episodes, steps = episodes + len(results), steps + sum(s for _, s in results)
            ranks = centered_ranks(returns)
            grad = (ranks[: args.pairs] - ranks[args.pairs :]) @ eps / (2 * args.pairs * args.sigma)
            m = 0.9 * m + 0.1 * -grad
            v = 0.999 * v + 0.001 * grad**2
            t = generation
            theta -= args.lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            if generation % 5 == 0:
                checks = pool.map(
                    play, [(args.env, theta, 10**6 + generation * 10 + i) for i in range(10)]
                )
                episodes, steps = episodes + 10, steps + sum(s for _, s in checks)
                if np.mean([r for r, _ in checks]) >= args.target:
                    solved = True
                    break
    print(
        json.dumps(
            {
                "solved": solved,
                "seconds": round(time.perf_counter() - start, 2),
                "generations": generation,
                "episodes": episodes,
                "env_steps": steps,
            }
        )
    )


if __name__ == "__main__":
    main()
