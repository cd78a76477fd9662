"""gymnasium's MuJoCo locomotion envs (v5) in lockstep: one ``MjData`` a lane, one model.

:class:`LocomotionVectorEnv` plays ``num_envs`` episodes of Swimmer-v5, Hopper-v5,
HalfCheetah-v5, Walker2d-v5 or Ant-v5 side by side. Every lane's observations,
rewards, terminations and truncations are the bits gymnasium's own env (made with
the same kwargs, wrapped in its ``TimeLimit``) gives for the same reset seed and
actions: the same draws of the reset noise (qpos, then qvel, from the generator
``reset(seed=...)`` makes), the same ``mj_step(..., nstep=frame_skip)`` on the same
model, the same reward terms in the same order and dtypes. It is faster because
what gymnasium does per env in Python (building the observation, the reward,
the health check, the wrappers) is done once per step for all lanes with
whole-array operations; the per-lane Python left is setting ``ctrl`` and
copying ``qpos``/``qvel`` out. ``mj_rnePostConstraint`` (which gymnasium calls
after every step) only computes ``cacc``, ``cfrc_int`` and ``cfrc_ext``, which
nothing but Ant's contact forces reads, so it runs for Ant alone.

The env's parameters (weights, healthy ranges, noise scale, frame skip, the model)
are read from one gymnasium env made with the same kwargs, so a kwarg means here
what it means there. Only the kwargs :func:`reproduces` accepts are played here;
anything else (another ``xml_file``, rendering) is left to gymnasium.

Autoreset is disabled: a lane whose episode ended is not stepped again (reward 0,
its last observation, its flags kept) until the next ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.utils.seeding import np_random
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.locomotion_kernel import HEALTH, after_step, fits

COMMON_KWARGS = frozenset(
    {
        "frame_skip",
        "forward_reward_weight",
        "ctrl_cost_weight",
        "reset_noise_scale",
        "exclude_current_positions_from_observation",
    }
)
HEALTH_KWARGS = frozenset(
    {"healthy_reward", "terminate_when_unhealthy", "healthy_z_range", "healthy_angle_range"}
)


@dataclass(frozen=True)
class Task:
    """How one v5 env builds its observation, reward and health check."""

    skipped: int  # leading qpos coordinates left out when positions are excluded
    health: str | None  # "hopper", "walker", "ant", or None (never terminates)
    normal_velocity_noise: bool  # qvel noise: scale * N(0, 1); else uniform like qpos
    velocity_clip: float | None = None  # the observation clips qvel to +-this
    kwargs: frozenset[str] = COMMON_KWARGS


TASKS: dict[str, Task] = {
    "Swimmer-v5": Task(skipped=2, health=None, normal_velocity_noise=False),
    "HalfCheetah-v5": Task(skipped=1, health=None, normal_velocity_noise=True),
    "Hopper-v5": Task(
        skipped=1,
        health="hopper",
        normal_velocity_noise=False,
        velocity_clip=10.0,
        kwargs=COMMON_KWARGS | HEALTH_KWARGS | {"healthy_state_range"},
    ),
    "Walker2d-v5": Task(
        skipped=1,
        health="walker",
        normal_velocity_noise=False,
        velocity_clip=10.0,
        kwargs=COMMON_KWARGS | HEALTH_KWARGS,
    ),
    "Ant-v5": Task(
        skipped=2,
        health="ant",
        normal_velocity_noise=True,
        kwargs=COMMON_KWARGS
        | (HEALTH_KWARGS - {"healthy_angle_range"})
        | {
            "contact_cost_weight",
            "contact_force_range",
            "main_body",
            "include_cfrc_ext_in_observation",
        },
    ),
}


def reproduces(env_id: str, kwargs: dict[str, Any]) -> bool:
    """Whether this module plays ``env_id`` with ``kwargs`` exactly as gymnasium does."""
    task = TASKS.get(env_id)
    return task is not None and set(kwargs) <= task.kwargs


class LocomotionVectorEnv(VectorEnv):
    """``num_envs`` lanes of one v5 locomotion env, stepped together (see the module)."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.DISABLED,
    }

    def __init__(
        self,
        env_id: str,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        import mujoco  # the optional dependency, needed only once an env is made

        if not reproduces(env_id, kwargs):
            raise ValueError(f"{env_id!r} with kwargs {sorted(kwargs)} is not played here")
        self._mujoco = mujoco
        self.task = TASKS[env_id]
        reference = gymnasium.make(env_id, disable_env_checker=True, **kwargs)
        if max_episode_steps is None:
            max_episode_steps = reference.spec.max_episode_steps
        self.env = env = reference.unwrapped  # the parameters, the model, the start state
        reference.close()
        self.num_envs, self.max_episode_steps = num_envs, max_episode_steps
        self.model = env.model
        self.frame_skip, self.dt = env.frame_skip, env.dt
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, num_envs)
        self.action_space = batch_space(env.action_space, num_envs)
        self.skipped = self.task.skipped if env._exclude_current_positions_from_observation else 0
        self.contacts = self.task.health == "ant"
        self.body = env.data.body(env._main_body).id if self.contacts else None

        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        self._ctrl = [data.ctrl for data in self.datas]  # views, valid as long as the data
        self._xpos = [data.xpos for data in self.datas]
        self._cfrc = [data.cfrc_ext for data in self.datas]
        self._lanes = list(zip(self._ctrl, self.datas, strict=True))
        model = self.model
        # Each lane's (qpos, qvel) side by side: the env's state_vector(), and views of it.
        self.state = np.zeros((num_envs, model.nq + model.nv))
        self.qpos, self.qvel = self.state[:, : model.nq], self.state[:, model.nq :]
        self._flat_state = self.state.reshape(-1)  # a view: rows of [qpos, qvel]
        self._parts = [part for data in self.datas for part in (data.qpos, data.qvel)]
        # The observation is state[:, skipped:] clipped column by column (+-inf: not at all).
        clip = self.task.velocity_clip
        low = np.full(self.state.shape[1] - self.skipped, -np.inf)
        low[model.nq - self.skipped :] = -np.inf if clip is None else -clip
        self.obs_bounds = (low, -low)
        self.x = np.zeros(num_envs)  # Ant: the main body's x, the velocity is taken of
        self.cfrc = np.zeros((num_envs, model.nbody, 6))
        self.obs = np.zeros((num_envs, *env.observation_space.shape))
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self._rewards_out = np.zeros(num_envs)
        self.terminated = np.zeros(num_envs, dtype=bool)
        self.truncated = np.zeros(num_envs, dtype=bool)
        self.rngs: list[np.random.Generator | None] = [None] * num_envs
        self.live: np.ndarray = np.arange(num_envs)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Every lane's first observation; lane ``i`` is reset with ``seed[i]`` (an int:
        ``seed + i``; None: its generator goes on, as gymnasium's reset without a seed)."""
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        for lane, lane_seed in enumerate(seeds):
            self._reset_lane(lane, lane_seed)
        self._gather()
        self.steps[:] = 0
        self.terminated[:] = False
        self.truncated[:] = False
        self.live = np.arange(self.num_envs)
        everyone = slice(None)
        self._observe(everyone)
        return self.obs.copy(), {}

    def _reset_lane(self, lane: int, seed: int | None) -> None:
        """MujocoEnv.reset and the env's reset_model, for one lane."""
        mujoco, env, model, data = self._mujoco, self.env, self.model, self.datas[lane]
        rng = self.rngs[lane]
        if seed is not None or rng is None:
            rng = self.rngs[lane] = np_random(seed)[0]
        mujoco.mj_resetData(model, data)
        scale = env._reset_noise_scale
        qpos = env.init_qpos + rng.uniform(low=-scale, high=scale, size=model.nq)
        if self.task.normal_velocity_noise:
            qvel = env.init_qvel + scale * rng.standard_normal(model.nv)
        else:
            qvel = env.init_qvel + rng.uniform(low=-scale, high=scale, size=model.nv)
        data.qpos[:] = qpos
        data.qvel[:] = qvel
        mujoco.mj_forward(model, data)
        if self.contacts:
            self._copy_contacts(lane)

    def _copy_contacts(self, lane: int) -> None:
        """Ant: the lane's main-body position and external contact forces."""
        self.x[lane] = self._xpos[lane][self.body, 0]
        self.cfrc[lane] = self._cfrc[lane]

    def _gather(self) -> None:
        """Every lane's (qpos, qvel) into ``state``, in one copy (an ended lane's: as it was)."""
        np.concatenate(self._parts, out=self._flat_state)

    def _forward_position(self, rows: Any) -> np.ndarray:
        """What the forward velocity is taken of: qpos[0], or the Ant's main body's x."""
        return self.x[rows] if self.contacts else self.state[rows, 0]

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every lane whose episode goes on."""
        actions = np.asarray(actions)  # its dtype kept: the control cost is computed in it
        live = self.live
        everyone = live.size == self.num_envs
        rows = slice(None) if everyone else live
        mujoco, model, frame_skip = self._mujoco, self.model, self.frame_skip
        step, post = mujoco.mj_step, mujoco.mj_rnePostConstraint
        x_before = self._forward_position(rows).copy()
        controls = np.asarray(actions, dtype=np.float64)  # what data.ctrl[:] = a stores
        for lane in live.tolist():
            ctrl, data = self._lanes[lane]
            ctrl[:] = controls[lane]
            step(model, data, nstep=frame_skip)
            if self.contacts:
                post(model, data)
                self._copy_contacts(lane)
        self._gather()
        if fits(self.task.health, self.contacts, actions):  # one compiled call
            self._after_step(live, x_before, actions)
            ended = self.terminated[live] | self.truncated[live]
            if ended.any():
                self.live = live[~ended]
            return (
                self.obs.copy(),
                self._rewards_out.copy(),
                self.terminated.copy(),
                (self.truncated.copy()),
                {},
            )
        action = actions[rows]
        rewards = self._rewards(rows, x_before, action)
        if not everyone:
            rewards, stepped = np.zeros(self.num_envs), rewards
            rewards[rows] = stepped
        self._observe(rows)
        self.steps[rows] += 1
        self.truncated[rows] = self.steps[rows] >= self.max_episode_steps
        ended = self.terminated[rows] | self.truncated[rows]
        if ended.any():
            self.live = live[~ended]
        return self.obs.copy(), rewards, self.terminated.copy(), self.truncated.copy(), {}

    def _after_step(self, live: np.ndarray, x_before: np.ndarray, actions: np.ndarray) -> None:
        """Rewards, health, observations and time limit of the lanes ``live`` just stepped
        (:func:`envs.locomotion_kernel.after_step`); the other lanes' rewards 0."""
        env, dtype = self.env, actions.dtype.type
        healthy = self.task.health is not None
        weights = (
            float(env._forward_reward_weight),
            dtype(env._ctrl_cost_weight),
            float(env._healthy_reward) if healthy else 0.0,
            float(self.dt),
            bool(env._terminate_when_unhealthy) if healthy else False,
        )
        none = (-np.inf, np.inf)
        ranges = (
            tuple(map(float, env._healthy_z_range)) if healthy else none,
            tuple(map(float, env._healthy_angle_range)) if healthy else none,
            tuple(map(float, getattr(env, "_healthy_state_range", none))),
        )
        limits = (self.skipped, *self.obs_bounds, self.max_episode_steps)
        self._rewards_out[:] = 0.0
        out = (self.obs, self._rewards_out, self.terminated, self.truncated, self.steps)
        after_step(
            live, self.state, x_before, actions, weights, ranges, HEALTH[self.task.health],
            limits, out,
        )  # fmt: skip

    def _rewards(self, rows: Any, x_before: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The env's reward of the stepped lanes, term by term as its ``_get_rew``; sets
        their ``terminated``."""
        env = self.env
        x_velocity = (self._forward_position(rows) - x_before) / self.dt
        forward = env._forward_reward_weight * x_velocity
        ctrl_cost = env._ctrl_cost_weight * np.sum(np.square(action), axis=-1)
        if self.task.health is None:
            return forward - ctrl_cost
        healthy = self._healthy(rows)
        self.terminated[rows] = ~healthy & bool(env._terminate_when_unhealthy)
        rewards = forward + healthy * env._healthy_reward
        if not self.contacts:
            return rewards - ctrl_cost
        low, high = env._contact_force_range
        forces = np.clip(self.cfrc[rows], low, high)
        contact_cost = env._contact_cost_weight * np.sum(np.square(forces), axis=(-2, -1))
        return rewards - (ctrl_cost + contact_cost)

    def _healthy(self, rows: Any) -> np.ndarray:
        """The env's ``is_healthy`` for the stepped lanes."""
        env, qpos, qvel = self.env, self.qpos[rows], self.qvel[rows]
        health = self.task.health
        if health == "ant":
            low, high = env._healthy_z_range
            finite = np.isfinite(qpos).all(axis=-1) & np.isfinite(qvel).all(axis=-1)
            return finite & (low <= qpos[:, 2]) & (qpos[:, 2] <= high)
        z, angle = qpos[:, 1], qpos[:, 2]
        low, high = env._healthy_z_range
        healthy = (low < z) & (z < high)
        low, high = env._healthy_angle_range
        healthy &= (low < angle) & (angle < high)
        if health == "hopper":  # every coordinate of state_vector()[2:]
            low, high = env._healthy_state_range
            state = self.state[rows, 2:]
            healthy &= ((low < state) & (state < high)).all(axis=-1)
        return healthy

    def _observe(self, rows: Any) -> None:
        """The env's ``_get_obs`` for the lanes ``rows``, into ``self.obs``."""
        observed = np.clip(self.state[rows, self.skipped :], *self.obs_bounds)
        if self.contacts and self.env._include_cfrc_ext_in_observation:
            low, high = self.env._contact_force_range
            forces = np.clip(self.cfrc[rows, 1:], low, high)
            observed = np.concatenate([observed, forces.reshape(forces.shape[0], -1)], axis=1)
        self.obs[rows] = observed

    def close(self, **kwargs: Any) -> None:
        """Let go of the lanes' ``MjData`` (and the views that keep them alive)."""
        self.datas, self._lanes, self._parts = [], [], []
        self._ctrl = self._xpos = self._cfrc = []
