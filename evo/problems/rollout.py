"""Episodes in lockstep: the envs of a chunk (or the env's own vector version) stepping
together, so that the policy's forward pass is batched over members.

Env instances are cached per worker thread, a speed-up only: every episode
starts with ``reset(seed=...)``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from typing import Any, Protocol

import gymnasium
import numpy as np

import envs  # noqa: F401  (registers the project's own environments, on workers too)
from evo.config import EnvConfig
from evo.errors import ConfigError
from evo.policies import BoundPolicy, MLPSpec, flatten_observation


class Played(Protocol):
    """What episodes are played with: the env, the policy network, whether the env has a
    lockstep vector version."""

    env: EnvConfig
    policy: MLPSpec
    vectorized: bool


def make_env(env: EnvConfig, render_mode: str | None = None) -> gymnasium.Env:
    """A fresh gymnasium env for this config (errors name the config key)."""
    extra: dict[str, Any] = {"disable_env_checker": True}
    if render_mode is not None:
        extra["render_mode"] = render_mode
    if env.max_steps is not None:
        extra["max_episode_steps"] = env.max_steps
    try:
        return gymnasium.make(env_target(env), **env.kwargs, **extra)
    except gymnasium.error.DependencyNotInstalled as exc:
        raise ConfigError(f"env.id: {env.id!r} needs an optional dependency: {exc}") from None
    except gymnasium.error.Error as exc:
        raise ConfigError(f"env.id: cannot make {env.id!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env.kwargs: {env.id!r} rejected them: {exc}") from None


def env_target(env: EnvConfig) -> str | gymnasium.envs.registration.EnvSpec:
    """What ``gymnasium.make`` makes: the registered id, or a spec of the unregistered class
    ``env.entry_point`` names (imported by name on every worker)."""
    if env.entry_point is None:
        return env.id
    name = env.entry_point.rpartition(":")[2].rpartition(".")[2]
    return gymnasium.envs.registration.EnvSpec(id=name, entry_point=env.entry_point)


def make_vector_env(env: EnvConfig, count: int) -> gymnasium.vector.VectorEnv:
    """The env's own vector version with ``count`` sub-envs."""
    extra: dict[str, Any] = {}
    if env.max_steps is not None:
        extra["max_episode_steps"] = env.max_steps
    try:
        return gymnasium.make_vec(
            env.id, num_envs=count, vectorization_mode="vector_entry_point", **env.kwargs, **extra
        )
    except TypeError as exc:
        raise ConfigError(f"env.kwargs: {env.id!r} rejected them: {exc}") from None


_cache = threading.local()
CACHE_ENTRIES = 4  # env configs (and vector sizes) kept per worker thread; older ones closed


def _lru(name: str) -> OrderedDict:
    return _cache.__dict__.setdefault(name, OrderedDict())


def _remember(store: OrderedDict, key: str, value: Any) -> None:
    """Keep ``value`` under ``key``, closing what falls out of the cache."""
    store[key] = value
    while len(store) > CACHE_ENTRIES:
        _, old = store.popitem(last=False)
        for env in old if isinstance(old, list) else [old]:
            with contextlib.suppress(Exception):
                env.close()


def cached_envs(env: EnvConfig, count: int) -> list[gymnasium.Env]:
    """``count`` env instances for this config, reused across tasks on this thread.

    Keyed by the config's content, so a new or restarted worker rebuilds them
    transparently; a cache, never a source of truth (every episode is reset
    with its seed).
    """
    store = _lru("envs")
    key = json.dumps(
        [env.id, env.entry_point, env.kwargs, env.max_steps], sort_keys=True, default=str
    )
    pool = store.pop(key, [])
    _remember(store, key, pool)
    while len(pool) < count:
        pool.append(make_env(env))
    return pool[:count]


def cached_vector_env(env: EnvConfig, count: int) -> gymnasium.vector.VectorEnv:
    """A vector env of ``count`` sub-envs for this config, reused on this thread."""
    store = _lru("vector")
    key = json.dumps(
        [env.id, env.entry_point, env.kwargs, env.max_steps, count], sort_keys=True, default=str
    )
    vector_env = store.pop(key, None)
    _remember(store, key, vector_env if vector_env is not None else make_vector_env(env, count))
    return store[key]


def run_episodes(
    problem: Played, params: np.ndarray, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Run ``seeds.shape[1]`` episodes per member in lockstep.

    Returns per-episode returns and steps, and ``{row: message}`` for members
    whose env raised (their episodes stop there). The forward pass always sees
    the full ``(members, episodes, obs_dim)`` block (finished episodes keep
    their last observation), so each member's numbers do not depend on the
    other members of the chunk.
    """
    if problem.vectorized:
        return run_vector_episodes(problem, params, seeds)
    num_members, episodes = seeds.shape
    spec = problem.policy
    pool = cached_envs(problem.env, num_members * episodes)
    space = pool[0].observation_space
    returns = np.zeros((num_members, episodes), dtype=np.float64)
    steps = np.zeros((num_members, episodes), dtype=np.int64)
    alive = np.ones((num_members, episodes), dtype=bool)
    obs = np.zeros((num_members, episodes, spec.obs_dim), dtype=np.float32)
    errors: dict[int, str] = {}

    def fail(member: int, exc: Exception) -> None:
        errors.setdefault(member, f"{type(exc).__name__}: {exc}")
        alive[member] = False

    for member, episode in np.ndindex(num_members, episodes):
        try:
            first, _ = pool[member * episodes + episode].reset(seed=int(seeds[member, episode]))
            obs[member, episode] = flatten_observation(space, first)
        except Exception as exc:
            fail(member, exc)
    act = _LiveActor(spec, params)
    while (live_episodes := np.count_nonzero(alive)) > 0:
        actions = act(obs, alive, live_episodes)
        for member, episode in zip(*np.nonzero(alive), strict=True):
            if not alive[member, episode]:
                continue  # its member failed earlier in this step
            action = actions[member, episode]
            try:
                observation, reward, terminated, truncated, _ = pool[
                    member * episodes + episode
                ].step(action if action.ndim else action.item())
            except Exception as exc:
                fail(member, exc)
                continue
            returns[member, episode] += float(reward)
            steps[member, episode] += 1
            obs[member, episode] = flatten_observation(space, observation)
            if terminated or truncated:
                alive[member, episode] = False
    return returns, steps, errors


def run_vector_episodes(
    problem: Played, params: np.ndarray, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """:func:`run_episodes` on the env's lockstep vector version: one env step for all cars.

    A step's fixed cost is paid once per step per chunk, so the loop keeps it small:
    whole-array operations on flat views, in place.
    """
    num_members, episodes = seeds.shape
    cars = num_members * episodes
    vector_env = cached_vector_env(problem.env, cars)
    returns = np.zeros(cars, dtype=np.float64)
    steps = np.zeros(cars, dtype=np.int64)
    alive = np.ones(cars, dtype=bool)
    ended = np.empty(cars, dtype=bool)
    alive_episodes = alive.reshape(num_members, episodes)  # views of the flat arrays
    act = _LiveActor(problem.policy, params)
    action_shape = (cars, *problem.policy.action_shape)
    try:
        obs, _ = vector_env.reset(seed=[int(s) for s in seeds.ravel()])
        live_cars = cars
        while live_cars:
            actions = act(obs.reshape(num_members, episodes, -1), alive_episodes, live_cars)
            obs, rewards, terminated, truncated, _ = vector_env.step(actions.reshape(action_shape))
            np.add(returns, rewards, out=returns, where=alive)  # a finished car's reward: none
            steps += alive
            np.logical_or(terminated, truncated, out=ended)
            np.greater(alive, ended, out=alive)  # alive and not ended
            live_cars = np.count_nonzero(alive)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        errors = dict.fromkeys(range(num_members), message)
    else:
        errors = {}
    return returns.reshape(num_members, episodes), steps.reshape(num_members, episodes), errors


class _LiveActor:
    """Actions for every row; the forward pass runs only for members with a live episode.

    Each member still sees its whole ``(episodes, obs_dim)`` block, so its outputs
    are the same bits whichever other members are computed with it. The live
    members' policy is bound once, and again only when a member's last episode
    ends: episodes only ever end, so while the count of live episodes stays the
    same, so do the live members.
    """

    def __init__(self, spec: MLPSpec, params: np.ndarray) -> None:
        self.spec, self.params = spec, params
        self.live = np.arange(len(params))
        self.live_episodes = -1  # not looked at yet
        self.policy: BoundPolicy | None = None
        self.dtype = np.int64 if spec.action == "discrete" else np.float32

    def __call__(self, obs: np.ndarray, alive: np.ndarray, live_episodes: int) -> np.ndarray:
        """Actions ``(members, episodes, ...)``; ``live_episodes`` is ``alive``'s count of True."""
        if live_episodes != self.live_episodes:
            self.live_episodes = live_episodes
            live = np.flatnonzero(alive.any(axis=1))
            if self.policy is None or live.size != self.live.size:
                self.live = live
                whole = live.size == len(self.params)
                members = self.params if whole else self.params[live]
                self.policy = self.spec.bind(members, rows=obs.shape[1])
        if self.live.size == len(self.params):
            return self.policy.act(obs)
        actions = np.zeros((*obs.shape[:2], *self.spec.action_shape), dtype=self.dtype)
        actions[self.live] = self.policy.act(obs[self.live])
        return actions
