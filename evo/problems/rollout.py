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
from envs.classic import LOCKSTEP
from envs.locomotion import LocomotionVectorEnv, reproduces
from evo.config import EnvConfig
from evo.errors import ConfigError
from evo.policies import BoundPolicy, MLPSpec, flatten_observation
from evo.problems import fused
from evo.problems.normalization import Normalizer, ObservationTally


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


def has_lockstep_version(env: EnvConfig) -> bool:
    """Whether the env is a classic-control env with a lockstep version of our own."""
    return env.entry_point is None and env.id in LOCKSTEP


def is_own_env(env: EnvConfig) -> bool:
    """Whether the env is evo's own code (its classic-control and MuJoCo lockstep
    versions, the race track), whose reset clears all of an instance's state."""
    ours = has_lockstep_version(env) or plays_fast(env) or env.id.startswith("envs/")
    return env.entry_point is None and ours


def plays_fast(env: EnvConfig) -> bool:
    """Whether the env steps in evo's lockstep MuJoCo version (the same bits as gymnasium's)."""
    return env.fast and env.entry_point is None and reproduces(env.id, env.kwargs)


def make_vector_env(env: EnvConfig, count: int) -> gymnasium.vector.VectorEnv:
    """The env's lockstep vector version with ``count`` sub-envs: ours for gymnasium's
    classic-control envs (:mod:`envs.classic`) and MuJoCo locomotion envs
    (:mod:`envs.locomotion`), else the env's own vector entry point."""
    extra: dict[str, Any] = {}
    if env.max_steps is not None:
        extra["max_episode_steps"] = env.max_steps
    if plays_fast(env):
        return LocomotionVectorEnv(env.id, count, **env.kwargs, **extra)
    try:
        if has_lockstep_version(env):
            limit = extra.pop("max_episode_steps", gymnasium.spec(env.id).max_episode_steps)
            return LOCKSTEP[env.id](count, limit, **env.kwargs)
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
    """``count`` env instances for this config, each to play one episode.

    With ``env.reuse_instances``, instances are kept across tasks on this thread (keyed
    by the config's content, so a new or restarted worker rebuilds them transparently;
    every episode is reset with its seed). Otherwise every call gives new ones, closing
    the last: a reset need not clear all of an env's state (gymnasium's BipedalWalker
    keeps its Box2D world, and an episode played on an instance that played others
    before ends differently), and which episodes an instance played before depends on
    the chunking.
    """
    store = _lru("envs")
    key = json.dumps(
        [env.id, env.entry_point, env.kwargs, env.max_steps], sort_keys=True, default=str
    )
    pool = store.pop(key, [])
    _remember(store, key, pool)
    if not env.reuse_instances:
        for index, old in enumerate(pool[:count]):
            with contextlib.suppress(Exception):
                old.close()
            pool[index] = make_env(env)
    while len(pool) < count:
        pool.append(make_env(env))
    return pool[:count]


def cached_vector_env(env: EnvConfig, count: int) -> gymnasium.vector.VectorEnv:
    """A vector env of ``count`` sub-envs for this config, reused on this thread when it
    is evo's own (or with ``env.reuse_instances``): another's reset need not clear all
    its state (see :func:`cached_envs`), so it is made anew for every call."""
    store = _lru("vector")
    key = json.dumps(
        [env.id, env.entry_point, env.kwargs, env.max_steps, count], sort_keys=True, default=str
    )
    vector_env = store.pop(key, None)
    if vector_env is not None and not (env.reuse_instances or is_own_env(env)):
        with contextlib.suppress(Exception):
            vector_env.close()
        vector_env = None
    _remember(store, key, vector_env if vector_env is not None else make_vector_env(env, count))
    return store[key]


class Lanes:
    """``count`` episodes stepping in lockstep: the env's own vector version (one call for
    all lanes), or a pool of envs stepped one by one in lane order. A lane plays one
    episode: its reset, then steps until it ends.

    With ``group`` set, the pool catches what an env raises: the lanes are members'
    episodes, ``group`` consecutive lanes a member, and a lane that raises ends its whole
    member (its later lanes are not stepped this time). Without, exceptions propagate;
    the vector version always lets them propagate.
    """

    def __init__(self, played: Played, count: int, group: int | None = None) -> None:
        self.count, self.group = count, group
        self.vector = cached_vector_env(played.env, count) if played.vectorized else None
        if self.vector is None:
            self.envs = cached_envs(played.env, count)
            self.space = self.envs[0].observation_space
            self.obs = np.zeros((count, played.policy.obs_dim), dtype=np.float32)
        self.ended = np.zeros(count, dtype=bool)

    def reset(self, seeds: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """Every lane's first observation, ``(count, obs_dim)``; lanes whose reset raised."""
        if self.vector is not None:
            obs, _ = self.vector.reset(seed=[int(s) for s in seeds])
            return obs, {}
        failed: dict[int, str] = {}
        for lane, env in enumerate(self.envs):
            try:
                first, _ = env.reset(seed=int(seeds[lane]))
                self.obs[lane] = flatten_observation(self.space, first)
            except Exception as exc:
                if self.group is None:
                    raise
                failed[lane] = f"{type(exc).__name__}: {exc}"
        return self.obs, failed

    def step(
        self, actions: np.ndarray, alive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
        """One step of the ``alive`` lanes: observations (a lane not stepped keeps its last),
        rewards, which lanes ended, which stepped, and the lanes that raised."""
        if self.vector is not None:
            obs, rewards, terminated, truncated, _ = self.vector.step(actions)
            return obs, rewards, np.logical_or(terminated, truncated, out=self.ended), alive, {}
        rewards = np.zeros(self.count, dtype=np.float64)
        ended = np.zeros(self.count, dtype=bool)
        stepped = np.zeros(self.count, dtype=bool)
        failed: dict[int, str] = {}
        out = -1  # lanes of a failed member below this index are skipped
        for lane in np.flatnonzero(alive):
            if lane < out:
                continue
            action = actions[lane]
            try:
                observation, reward, terminated, truncated, _ = self.envs[lane].step(
                    action if np.ndim(action) else action.item()
                )
            except Exception as exc:
                if self.group is None:
                    raise
                failed[lane] = f"{type(exc).__name__}: {exc}"
                out = (lane // self.group + 1) * self.group
                continue
            rewards[lane], ended[lane], stepped[lane] = float(reward), terminated or truncated, True
            self.obs[lane] = flatten_observation(self.space, observation)
        return self.obs, rewards, ended, stepped, failed


def run_episodes(
    problem: Played,
    params: np.ndarray,
    seeds: np.ndarray,
    normalizer: Normalizer | None = None,
    tally: ObservationTally | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Run ``seeds.shape[1]`` episodes per member in lockstep.

    Returns per-episode returns and steps, and ``{row: message}`` for members
    whose env raised (their episodes stop there; on the vector version, every
    member's). The forward pass always sees the full ``(members, episodes,
    obs_dim)`` block (finished episodes keep their last observation), so each
    member's numbers do not depend on the other members of the chunk. A step's
    fixed cost is paid once per step per chunk, so the loop keeps it small:
    whole-array operations on flat views, in place. With a ``normalizer`` the
    policy is fed the normalised observations, and ``tally`` (one lane a car)
    counts the raw ones of the live cars.
    """
    num_members, episodes = seeds.shape
    cars = num_members * episodes
    if problem.vectorized:
        vector = cached_vector_env(problem.env, cars)
        if fused.plays_fused(vector):  # the whole loop compiled, the same bits
            try:
                returns, steps = fused.play(
                    vector, problem.policy, params, seeds, normalizer, tally
                )
            except Exception as exc:  # as the vector version's: every member failed
                message = f"{type(exc).__name__}: {exc}"
                return *_nothing(num_members, episodes), dict.fromkeys(range(num_members), message)
            return returns, steps, {}
    returns = np.zeros(cars, dtype=np.float64)
    steps = np.zeros(cars, dtype=np.int64)
    alive = np.ones(cars, dtype=bool)
    alive_episodes = alive.reshape(num_members, episodes)  # views of the flat arrays
    errors: dict[int, str] = {}

    def fail(failed: dict[int, str]) -> None:
        for lane, message in failed.items():
            errors.setdefault(lane // episodes, message)
            alive_episodes[lane // episodes] = False

    lanes = Lanes(problem, cars, group=episodes)
    act = _LiveActor(problem.policy, params)
    action_shape = (cars, *problem.policy.action_shape)
    try:
        obs, failed = lanes.reset(seeds.ravel())
        fail(failed)
        while live_cars := np.count_nonzero(alive):
            if tally is not None:
                tally.add(obs, alive)
            fed = obs if normalizer is None else normalizer(obs)
            actions = act(fed.reshape(num_members, episodes, -1), alive_episodes, live_cars)
            obs, rewards, ended, stepped, failed = lanes.step(actions.reshape(action_shape), alive)
            np.add(returns, rewards, out=returns, where=stepped)  # a finished car's: none
            steps += stepped
            np.greater(alive, ended, out=alive)  # alive and not ended
            fail(failed)
    except Exception as exc:  # the vector version raised: every member failed
        errors = dict.fromkeys(range(num_members), f"{type(exc).__name__}: {exc}")
    return returns.reshape(num_members, episodes), steps.reshape(num_members, episodes), errors


def _nothing(members: int, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero returns and steps: the members' episodes did not play."""
    return np.zeros((members, episodes)), np.zeros((members, episodes), dtype=np.int64)


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
        if self.live.size == len(self.params):  # self.dtype, as when some members are out
            return self.policy.act(obs).astype(self.dtype, copy=False)
        actions = np.zeros((*obs.shape[:2], *self.spec.action_shape), dtype=self.dtype)
        actions[self.live] = self.policy.act(obs[self.live])
        return actions
