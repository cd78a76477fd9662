"""A gymnasium env as the fitness: each member is a policy network, scored by the mean
return of its episodes, all members of a chunk stepping in lockstep."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401  (registers the project's own environments)
from evo.config import EnvConfig, ExperimentConfig
from evo.errors import ConfigError
from evo.messages import join, suggest
from evo.policies import MLPSpec, spec_for_spaces
from evo.problems import fused
from evo.problems.base import Chunk, ChunkResult, EpisodeScores, episode_part, episode_scores
from evo.problems.imports import load_entry_point
from evo.problems.normalization import ObservationTally
from evo.problems.rollout import (
    Lanes,
    cached_vector_env,
    has_lockstep_version,
    is_own_env,
    make_env,
    make_vector_env,
    plays_fast,
    run_episodes,
)
from evo.seeding import episode_seeds


def check_env(env: EnvConfig, path: str = "env") -> None:
    """That ``env`` names an env this process (and so a worker like it) can make."""
    if env.entry_point is not None:
        found = load_entry_point(env.entry_point, join(path, "entry_point"))
        if not (isinstance(found, type) and issubclass(found, gymnasium.Env)):
            raise ConfigError(
                f"{join(path, 'entry_point')}: expected a gymnasium.Env subclass, found {found!r}"
            )
        return
    # gymnasium's "module:EnvId" form imports the module that registers the env.
    module, _, env_id = env.id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"{join(path, 'id')}: cannot import module {module!r} for {env.id!r}: {exc}"
            ) from None
    if env_id not in gymnasium.registry:
        raise ConfigError(
            f"{join(path, 'id')}: expected a registered gymnasium env id, "
            f"found {env.id!r}{suggest(env_id, list(gymnasium.registry))}"
        )


def _has_lockstep_vector_env(env: EnvConfig) -> bool:
    """Whether the env's vector version runs sub-envs in lockstep, one seed each.

    That is a vector env whose autoreset is disabled (a finished sub-env stays
    finished), so every sub-env plays exactly the episode of its own reset seed:
    ours for the classic-control envs (gymnasium's ``CartPoleVectorEnv`` draws all
    starts from one generator and autoresets), or an env's own entry point.
    """
    vector_env = make_vector_env(env, 1)
    try:
        return vector_env.metadata.get("autoreset_mode") == AutoresetMode.DISABLED
    finally:
        vector_env.close()


@dataclass(frozen=True)
class EnvProblem(EpisodeScores):
    """An env, the policy network that plays it, and whether it has a lockstep vector form."""

    env: EnvConfig
    policy: MLPSpec
    reward_threshold: float | None = None
    vectorized: bool = False  # the env has a lockstep vector version (see run_episodes)
    kind: str = "env"

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> EnvProblem:
        """Build the env once to learn its spaces; env errors become config errors."""
        check_env(config.env)
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
                config.policy.has_bias,
                config.policy.action_bounds,
            )
            spec = env.spec
            threshold = spec.reward_threshold if spec is not None else None
            has_vector_version = spec is not None and spec.vector_entry_point is not None
        finally:
            env.close()
        has_vector_version = has_vector_version or plays_fast(config.env)
        vectorized = has_lockstep_version(config.env) or (
            has_vector_version and _has_lockstep_vector_env(config.env)
        )
        return cls(config.env, policy, reward_threshold=threshold, vectorized=vectorized)

    @property
    def batched(self) -> bool:
        """A chunk of a vector env steps all its cars in one call."""
        return self.vectorized

    @property
    def safe_in_process(self) -> bool:
        """Whether the env is evo's own code (its classic-control and MuJoCo lockstep
        versions, the race track): safe to evaluate in the orchestrator's process."""
        return is_own_env(self.env)

    @property
    def splits_episodes(self) -> bool:
        """A lockstep chunk may play some of its members' episodes (fitness: their mean
        return, made where they are joined)."""
        return self.vectorized

    def generation_seeds(self, seed: int, generation: int, size: int) -> np.ndarray:
        """Each member's episode seeds for a generation, ``(size, episodes)``."""
        env = self.env
        return episode_seeds(seed, generation, np.arange(size), env.episodes, env.common_seeds)

    def evaluate(self, params: np.ndarray, chunk: Chunk) -> ChunkResult:
        """Fitness = mean return over each member's episodes. A member whose env raises
        gets NaN and its message in ``errors``; the chunk's other members go on."""
        shape, normalizer = chunk.episode_seeds.shape, chunk.normalizer
        tally = (
            None
            if normalizer is None
            else ObservationTally(shape[0] * shape[1], self.policy.obs_dim)
        )
        try:
            returns, steps, errors = run_episodes(
                self, params, chunk.episode_seeds, normalizer, tally
            )
        except Exception as exc:  # the envs could not even be built here: every member failed
            returns, steps = np.zeros(shape), np.zeros(shape, dtype=np.int64)
            errors = dict.fromkeys(range(len(chunk.indices)), f"{type(exc).__name__}: {exc}")
        if chunk.episodes is not None:  # some of the members' episodes: joined elsewhere
            return episode_part(chunk, returns, steps, errors)
        observations = None if tally is None else tally.members(shape[1], list(errors))
        return episode_scores(chunk.indices, returns, steps, errors, observations)

    def unbatched(self) -> EnvProblem:
        """This problem played one env at a time where its lockstep version is ours (the
        classic-control envs, see :mod:`envs.classic`): the reference, same numbers."""
        return replace(self, vectorized=False) if has_lockstep_version(self.env) else self

    def prepare_worker(self) -> None:
        """Build, reset and step the env once with a zero policy, so that a worker's first
        task does not pay for the imports and the compiled kernels' loading (for an env
        whose whole episode loop is compiled, that loop's: one episode of one lane)."""
        zeros = np.zeros((1, self.policy.num_params), dtype=np.float32)
        short = replace(self.env, max_steps=1)  # a zero policy may stand still to the limit
        compiled = self.vectorized and not plays_fast(self.env)  # MuJoCo's loop is not
        if compiled and fused.plays_fused(vector := cached_vector_env(short, 1)):
            fused.play(vector, self.policy, zeros, np.zeros((1, 1), dtype=np.int64))
            return
        lanes = Lanes(self, 1)
        obs, _ = lanes.reset(np.zeros(1, dtype=np.int64))
        policy = self.policy.bind(zeros, rows=1)
        actions = policy.act(np.asarray(obs, dtype=np.float32).reshape(1, 1, -1))
        lanes.step(actions.reshape(1, *self.policy.action_shape), np.ones(1, dtype=bool))

    def episodes_per_member(self) -> int:
        """The config's episodes per member."""
        return self.env.episodes

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Env steps: one forward pass each."""
        return env_steps

    def summary_fields(self) -> dict[str, Any]:
        """The env played."""
        env_id = self.env.entry_point or self.env.id
        return {"env_id": env_id, "function": None, "data": None}
