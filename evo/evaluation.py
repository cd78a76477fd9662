"""What runs on a worker: a chunk of members, each driven through its episodes.

A task is a pure function of its inputs (the problem, the generation's base
vectors, the chunk's member records and episode seeds), so Dask may run it
anywhere, twice, or again after a worker died, and get the same numbers. All
episodes of a chunk step in lockstep so the policy's forward pass is batched
over members; env instances are cached per worker thread, a speed-up only
(every episode starts with ``reset(seed=...)``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401  (registers the project's own environments, on workers too)
from evo.config import EnvConfig, ExperimentConfig
from evo.datasets import classification_scores, dataset_info, load, minibatch_indices
from evo.errors import ConfigError
from evo.functions import FunctionSpec
from evo.policies import BoundPolicy, MLPSpec, flatten_observation, spec_for_spaces
from evo.population import Members, materialize
from evo.seeding import episode_seeds


@dataclass(frozen=True)
class DataTask:
    """A supervised data set as the fitness: each member is a classifier, scored on the
    generation's minibatch of training examples (the same for every member)."""

    name: str
    batch_size: int
    fitness: Literal["neg_loss", "accuracy"]
    seed: int  # the run seed: with the generation, it names the minibatch

    def member_fitness(self, spec: MLPSpec, params: np.ndarray, generation: int) -> np.ndarray:
        """Minus the mean cross-entropy (or the accuracy) of each member on the minibatch."""
        features, labels = load(self.name, "train")
        rows = minibatch_indices(self.seed, generation, self.batch_size, len(labels))
        loss, accuracy = self.scores(spec, params, features[rows], labels[rows])
        return accuracy if self.fitness == "accuracy" else -loss

    @staticmethod
    def scores(
        spec: MLPSpec, params: np.ndarray, features: np.ndarray, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean cross-entropy and accuracy per member (float32 network, float64 scores).

        Every member sees the same ``(1, rows, features)`` block, broadcast: one
        matmul per member, so its numbers do not depend on the chunk it is in.
        """
        logits = spec.forward(np.asarray(params, dtype=np.float32), features[None])
        return classification_scores(logits, labels)

    def split_scores(
        self, spec: MLPSpec, params: np.ndarray, split: Literal["train", "test"]
    ) -> tuple[float, np.ndarray]:
        """One parameter vector on a whole split: its mean cross-entropy, and which
        examples it classifies right (bool per example)."""
        features, labels = load(self.name, split)
        logits = spec.forward(np.asarray(params, dtype=np.float32)[None], features[None])
        loss, _ = classification_scores(logits, labels)
        return float(loss[0]), np.argmax(logits[0], axis=-1) == labels

    def split_fitness(
        self, spec: MLPSpec, params: np.ndarray, split: Literal["train", "test"]
    ) -> float:
        """The fitness of one parameter vector on a whole split (as on a minibatch)."""
        loss, correct = self.split_scores(spec, params, split)
        return float(correct.mean()) if self.fitness == "accuracy" else -loss


@dataclass(frozen=True)
class Problem:
    """Everything constant over a run that a worker needs to evaluate members."""

    env: EnvConfig
    policy: MLPSpec | FunctionSpec  # a FunctionSpec: the parameters are the candidate itself
    reward_threshold: float | None = None
    vectorized: bool = False  # the env has a lockstep vector version (see run_episodes)
    data: DataTask | None = None  # a data set instead of the env (policy: the classifier)

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> Problem:
        """Build the env once to learn its spaces; env errors become config errors."""
        if (function := config.function) is not None:
            return cls(config.env, FunctionSpec(function.name, function.dim, function.init_std))
        if (data := config.data) is not None:
            info = dataset_info(data.name)
            classifier = MLPSpec(
                obs_dim=info.features,
                hidden_sizes=tuple(config.policy.hidden_sizes),
                out_dim=info.classes,
                activation=config.policy.activation,
                action="discrete",  # the argmax is the predicted class
            )
            task = DataTask(data.name, data.batch_size, data.fitness, config.seed or 0)
            return cls(config.env, classifier, data=task)
        env = make_env(config.env)
        try:
            try:  # a first episode, so kwargs that fail only at reset fail here, as bad input
                env.reset(seed=0)
            except Exception as exc:
                raise ConfigError(
                    f"env.kwargs: {config.env.id!r} cannot start an episode with them: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            policy = spec_for_spaces(
                env.observation_space,
                env.action_space,
                config.policy.hidden_sizes,
                config.policy.activation,
            )
            threshold = env.spec.reward_threshold if env.spec is not None else None
            has_vector_version = env.spec is not None and env.spec.vector_entry_point is not None
        finally:
            env.close()
        vectorized = has_vector_version and _has_lockstep_vector_env(config.env)
        return cls(config.env, policy, reward_threshold=threshold, vectorized=vectorized)

    def generation_seeds(self, seed: int, generation: int, size: int) -> np.ndarray:
        """Each member's episode seeds for a generation, ``(size, episodes)``; on a data set,
        the number of its minibatch (the generation's, the same for every member: see
        :func:`evaluate_data_chunk`)."""
        if self.data is not None:
            return np.full((size, 1), generation, dtype=np.uint32)
        env = self.env
        return episode_seeds(seed, generation, np.arange(size), env.episodes, env.common_seeds)


@dataclass(frozen=True)
class Chunk:
    """Some members of one generation: their indices, records and episode seeds."""

    indices: np.ndarray  # (m,) member indices in the population
    members: Members
    episode_seeds: np.ndarray  # (m, episodes) uint32

    @property
    def nbytes(self) -> int:
        """Payload size of the chunk's arrays."""
        return self.indices.nbytes + self.members.nbytes + self.episode_seeds.nbytes


@dataclass(frozen=True)
class ChunkResult:
    """Per-member fitness (mean episode return) and episode steps, plus timing."""

    indices: np.ndarray  # (m,)
    fitness: np.ndarray  # (m,) float64
    steps: np.ndarray  # (m,) int64, summed over the member's episodes
    errors: dict[int, str] = field(default_factory=dict)  # member index -> what its env raised
    seconds: float = field(default=0.0, compare=False)
    worker: str = field(default="", compare=False)  # the Dask worker that ran it, if any
    transfer_total: int = field(default=0, compare=False)  # its Dask outgoing-bytes counter then

    @property
    def nbytes(self) -> int:
        """Payload size of the result's arrays."""
        return self.indices.nbytes + self.fitness.nbytes + self.steps.nbytes


def make_env(env: EnvConfig, render_mode: str | None = None) -> gymnasium.Env:
    """A fresh gymnasium env for this config (errors name the config key)."""
    extra: dict[str, Any] = {"disable_env_checker": True}
    if render_mode is not None:
        extra["render_mode"] = render_mode
    if env.max_steps is not None:
        extra["max_episode_steps"] = env.max_steps
    try:
        return gymnasium.make(env.id, **env.kwargs, **extra)
    except gymnasium.error.DependencyNotInstalled as exc:
        raise ConfigError(f"env.id: {env.id!r} needs an optional dependency: {exc}") from None
    except gymnasium.error.Error as exc:
        raise ConfigError(f"env.id: cannot make {env.id!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env.kwargs: {env.id!r} rejected them: {exc}") from None


def _has_lockstep_vector_env(env: EnvConfig) -> bool:
    """Whether the env's vector entry point runs sub-envs in lockstep, one seed each.

    That is a vector env whose autoreset is disabled (a finished sub-env stays
    finished), so every sub-env plays exactly the episode of its own reset seed.
    """
    vector_env = make_vector_env(env, 1)
    try:
        return vector_env.metadata.get("autoreset_mode") == AutoresetMode.DISABLED
    finally:
        vector_env.close()


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
    key = json.dumps([env.id, env.kwargs, env.max_steps], sort_keys=True, default=str)
    pool = store.pop(key, [])
    _remember(store, key, pool)
    while len(pool) < count:
        pool.append(make_env(env))
    return pool[:count]


def cached_vector_env(env: EnvConfig, count: int) -> gymnasium.vector.VectorEnv:
    """A vector env of ``count`` sub-envs for this config, reused on this thread."""
    store = _lru("vector")
    key = json.dumps([env.id, env.kwargs, env.max_steps, count], sort_keys=True, default=str)
    vector_env = store.pop(key, None)
    _remember(store, key, vector_env if vector_env is not None else make_vector_env(env, count))
    return store[key]


def evaluate_chunk(problem: Problem, bases: np.ndarray, chunk: Chunk) -> ChunkResult:
    """Evaluate a chunk of members: fitness = mean return over each member's episodes.

    A member whose env raises gets NaN fitness and its error message in
    ``errors``; the chunk's other members are still evaluated.
    """
    start = time.perf_counter()
    params = materialize(bases, chunk.members)
    if problem.data is not None:  # no episodes: the chunk's seeds name the minibatch
        return evaluate_data_chunk(problem.data, problem.policy, params, chunk, start)
    if isinstance(problem.policy, FunctionSpec):  # no episodes: the value at the point
        return ChunkResult(
            indices=chunk.indices,
            fitness=problem.policy.fitness(params),
            steps=np.zeros(len(chunk.indices), dtype=np.int64),
            seconds=time.perf_counter() - start,
        )
    try:
        returns, steps, errors = run_episodes(problem, params, chunk.episode_seeds)
    except Exception as exc:  # the envs could not even be built here: every member failed
        shape = chunk.episode_seeds.shape
        returns, steps = np.zeros(shape), np.zeros(shape, dtype=np.int64)
        errors = dict.fromkeys(range(len(chunk.indices)), f"{type(exc).__name__}: {exc}")
    fitness = returns.mean(axis=1)
    fitness[list(errors)] = np.nan
    return ChunkResult(
        indices=chunk.indices,
        fitness=fitness,
        steps=steps.sum(axis=1),
        errors={int(chunk.indices[row]): message for row, message in errors.items()},
        seconds=time.perf_counter() - start,
    )


def evaluate_data_chunk(
    task: DataTask, spec: MLPSpec, params: np.ndarray, chunk: Chunk, start: float
) -> ChunkResult:
    """Fitness of a chunk on a data set: a member's one "episode seed" is the number of its
    minibatch (the generation, the same for every member of a training generation); its
    "steps" are the examples it was scored on."""
    minibatch = chunk.episode_seeds[:, 0].astype(np.int64)
    fitness = np.empty(len(chunk.indices), dtype=np.float64)
    for generation in np.unique(minibatch):
        rows = np.flatnonzero(minibatch == generation)
        fitness[rows] = task.member_fitness(spec, params[rows], int(generation))
    return ChunkResult(
        indices=chunk.indices,
        fitness=fitness,
        steps=np.full(len(chunk.indices), task.batch_size, dtype=np.int64),
        seconds=time.perf_counter() - start,
    )


def run_episodes(
    problem: Problem, params: np.ndarray, seeds: np.ndarray
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
    problem: Problem, params: np.ndarray, seeds: np.ndarray
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
