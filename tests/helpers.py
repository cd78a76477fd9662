"""Test-only environments, importable by Dask workers as ``tests.helpers:EnvId``."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.pendulum import PendulumEnv


class ExplodingEnv(gymnasium.Env):
    """A 2-D point that raises ``ValueError("boom")`` on its ``explode_at``-th step
    (with ``odd_seeds_only``, only in episodes reset with an odd seed)."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, explode_at: int = 5, odd_seeds_only: bool = False) -> None:
        self.explode_at = explode_at
        self.odd_seeds_only = odd_seeds_only
        self.armed = True
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.steps = 0
        self.armed = not self.odd_seeds_only or (seed is not None and seed % 2 == 1)
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.steps += 1
        if self.armed and self.steps >= self.explode_at:
            raise ValueError("boom")
        obs = self.np_random.uniform(-1, 1, size=2).astype(np.float32)
        return obs, float(action), False, False, {}


gymnasium.register(id="Exploding-v0", entry_point=ExplodingEnv, max_episode_steps=50)


class MemoryEnv(gymnasium.Env):
    """Five steps of reward 1 (an action 1 adds 1), from a random 2-D start."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return np.zeros(2, dtype=np.float32), 1.0 + float(action), False, False, {}


class MemoryVectorEnv(gymnasium.vector.VectorEnv):
    """:class:`MemoryEnv` in lockstep (autoreset disabled), whose reset keeps a count of
    the resets before it and adds it to every reward: a third-party vector env whose
    episodes depend on what the instance played before."""

    metadata = {"autoreset_mode": gymnasium.vector.AutoresetMode.DISABLED}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 5) -> None:
        self.num_envs, self.limit = num_envs, max_episode_steps
        self.single_observation_space = MemoryEnv.observation_space
        self.single_action_space = MemoryEnv.action_space
        self.observation_space = gymnasium.vector.utils.batch_space(
            MemoryEnv.observation_space, num_envs
        )
        self.action_space = gymnasium.vector.utils.batch_space(MemoryEnv.action_space, num_envs)
        self.resets, self.steps = 0, 0

    def reset(self, *, seed: Any = None, options: dict | None = None) -> tuple[Any, dict]:
        self.resets += 1
        self.steps = 0
        starts = [np.random.default_rng(s).uniform(-1, 1, size=2) for s in seed]
        return np.asarray(starts, dtype=np.float32), {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict]:
        self.steps += 1
        rewards = 1.0 + np.asarray(actions, dtype=np.float64) + (self.resets - 1)
        ended = np.full(self.num_envs, self.steps >= self.limit)
        obs = np.zeros((self.num_envs, 2), dtype=np.float32)
        return obs, rewards, ended, np.zeros(self.num_envs, dtype=bool), {}


gymnasium.register(
    id="Memory-v0",
    entry_point=MemoryEnv,
    vector_entry_point=MemoryVectorEnv,
    max_episode_steps=5,
)


class PoisonPendulumEnv(PendulumEnv):
    """Pendulum whose episode with seed ``poison_seed`` kills the Dask worker running it
    (SIGKILL, every time); outside a worker that episode raises ``RuntimeError`` instead."""

    def __init__(self, poison_seed: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poison_seed = poison_seed

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed == self.poison_seed:
            try:
                from distributed import get_worker

                get_worker()
            except ValueError:
                raise RuntimeError("poison") from None
            os.kill(os.getpid(), signal.SIGKILL)
        return super().reset(seed=seed, options=options)


gymnasium.register(id="PoisonPendulum-v0", entry_point=PoisonPendulumEnv, max_episode_steps=200)


def slow_sphere(x: np.ndarray) -> np.ndarray:
    """The sphere function of a ``(members, dim)`` batch, after a 0.1 s pause: generations
    long enough for a test to act while they run, at no CPU cost."""
    time.sleep(0.1)
    return np.sum(np.square(x, dtype=np.float64), axis=1)
