"""Lockstep vector versions of gymnasium's classic-control envs, one reset seed per lane.

gymnasium's own ``CartPoleVectorEnv`` draws every sub-env's start from one generator
(a lane's episode depends on the others), autoresets, and steps with numpy's array
``cos``/``sin``. These envs instead play, in lane ``i``, exactly the episode that
``gymnasium.make(id)`` plays after ``reset(seed=seeds[i])`` given the same actions:
each lane is reset by gymnasium's own single env class, and stepped by a compiled
scalar copy of its ``step`` (:mod:`envs.classic.kernels`). Autoreset is disabled: a
lane that ended stays frozen (reward 0, same observation) until the next ``reset``.
The kernels are imported at the first step (numba's import costs a process a few
tenths of a second; making the env does not pay it).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


class LockstepVectorEnv(VectorEnv):
    """``num_envs`` lanes of one classic-control env, stepped together, each on its own seed."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.DISABLED,
    }
    single_env: ClassVar[type[gymnasium.Env]]
    state_size: ClassVar[int]
    kernel_name: ClassVar[str]  # "module:function" of the step, imported at the first step

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, **kwargs: Any) -> None:
        self.template = self.single_env(**kwargs)  # resets the lanes; rejects unknown kwargs
        self.num_envs, self.max_episode_steps = num_envs, int(max_episode_steps)
        self.single_observation_space = self.template.observation_space
        self.single_action_space = self.template.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.params = np.asarray(self.kernel_params(self.template), dtype=np.float64)
        self.state = np.zeros((num_envs, self.state_size), dtype=np.float64)
        self.obs = np.zeros((num_envs, *self.single_observation_space.shape), dtype=np.float32)
        self.rewards = np.zeros(num_envs, dtype=np.float64)
        self.terminated = np.zeros(num_envs, dtype=bool)
        self.truncated = np.zeros(num_envs, dtype=bool)
        self.done = np.ones(num_envs, dtype=bool)  # no episode until reset
        self.steps = np.zeros(num_envs, dtype=np.int64)

    @staticmethod
    def kernel_params(env: Any) -> list[float]:
        """The constants the kernel reads, taken from a single env built with the kwargs."""
        raise NotImplementedError

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Lane ``i`` starts the single env's episode of ``seed[i]`` (an int: ``seed + i``)."""
        if options:
            raise ValueError(f"{type(self).__name__} takes no reset options, got {options!r}")
        if isinstance(seed, int):
            seeds: list[int | None] = [seed + lane for lane in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        for lane, lane_seed in enumerate(seeds):
            self.obs[lane], _ = self.template.reset(seed=lane_seed)
            self.state[lane] = np.asarray(self.template.state, dtype=np.float64)
        self.done[:] = False
        self.steps[:] = 0
        return self.obs.copy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every lane whose episode has not ended; the others stay as they are."""
        module, _, name = self.kernel_name.partition(":")
        kernel = getattr(importlib.import_module(module), name)
        kernel(
            self.state,
            self._actions(actions),
            self.done,
            self.steps,
            self.max_episode_steps,
            self.params,
            self.obs,
            self.rewards,
            self.terminated,
            self.truncated,
        )
        return (
            self.obs.copy(),
            self.rewards.copy(),
            self.terminated.copy(),
            self.truncated.copy(),
            {},
        )

    def _actions(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(self.single_action_space, gymnasium.spaces.Discrete):
            return np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        shape = (self.num_envs, *self.single_action_space.shape)
        return np.asarray(actions, dtype=np.float32).reshape(shape)


class CartPoleVectorEnv(LockstepVectorEnv):
    """CartPole-v0/v1 (``sutton_barto_reward`` honoured)."""

    single_env, state_size, kernel_name = CartPoleEnv, 4, "envs.classic.kernels:cartpole_step"

    @staticmethod
    def kernel_params(env: Any) -> list[float]:
        assert env.kinematics_integrator == "euler"
        return [
            env.gravity,
            env.masspole,
            env.total_mass,
            env.length,
            env.polemass_length,
            env.force_mag,
            env.tau,
            env.x_threshold,
            env.theta_threshold_radians,
            float(env._sutton_barto_reward),
        ]


class PendulumVectorEnv(LockstepVectorEnv):
    """Pendulum-v1 (``g`` honoured)."""

    single_env, state_size, kernel_name = PendulumEnv, 2, "envs.classic.kernels:pendulum_step"

    @staticmethod
    def kernel_params(env: Any) -> list[float]:
        g, m, l, dt = env.g, env.m, env.l, env.dt  # noqa: E741  (the env's names)
        # the env's own expressions, so the constants round as they do there; 2.0: the
        # exponent of numpy's x**2, read at run time (kernels.SQUARE)
        return [env.max_torque, env.max_speed, dt, 3 * g / (2 * l), 3.0 / (m * l**2), 2.0]


class MountainCarVectorEnv(LockstepVectorEnv):
    """MountainCar-v0 (``goal_velocity`` honoured)."""

    single_env, state_size, kernel_name = (
        MountainCarEnv,
        2,
        "envs.classic.kernels:mountain_car_step",
    )

    @staticmethod
    def kernel_params(env: Any) -> list[float]:
        return [
            env.force,
            env.gravity,
            env.max_speed,
            env.min_position,
            env.max_position,
            env.goal_position,
            env.goal_velocity,
        ]


class AcrobotVectorEnv(LockstepVectorEnv):
    """Acrobot-v1 ("book" dynamics, no torque noise: gymnasium's defaults)."""

    single_env, state_size, kernel_name = AcrobotEnv, 4, "envs.classic.kernels:acrobot_step"

    @staticmethod
    def kernel_params(env: Any) -> list[float]:
        assert env.book_or_nips == "book" and env.torque_noise_max == 0.0
        return [2.0]  # the exponent of numpy's x**2, read at run time (kernels.SQUARE)


# gymnasium ids -> the lockstep version of their single env
LOCKSTEP: dict[str, type[LockstepVectorEnv]] = {
    "CartPole-v0": CartPoleVectorEnv,
    "CartPole-v1": CartPoleVectorEnv,
    "Pendulum-v1": PendulumVectorEnv,
    "MountainCar-v0": MountainCarVectorEnv,
    "Acrobot-v1": AcrobotVectorEnv,
}
