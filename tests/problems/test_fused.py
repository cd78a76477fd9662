"""The compiled episode loop of the classic-control envs and the race track plays, for
every member, the episodes gymnasium's own single env plays (returns, steps, observation
statistics bit for bit), whichever members share its batch and wherever a member sits in it."""

from __future__ import annotations

from dataclasses import replace

import gymnasium
import numpy as np
import pytest

from evo.config import EnvConfig
from evo.policies import spec_for_spaces
from evo.problems import fused
from evo.problems.env import EnvProblem
from evo.problems.normalization import ObservationStats, ObservationTally
from evo.problems.rollout import cached_vector_env, run_episodes

SLOW = pytest.mark.slow  # float64 parameters: a compiled loop of its own on a fresh machine
CASES = [
    # env, hidden layers, action bounds, parameter dtype, normalisation (0 none, 1, 2 clipped)
    ("CartPole-v1", (16,), "tanh", np.float32, 0),
    ("CartPole-v1", (), "tanh", np.float32, 2),
    pytest.param("CartPole-v1", (8, 8), "tanh", np.float64, 1, marks=SLOW),
    ("Pendulum-v1", (16,), "tanh", np.float32, 1),
    ("Pendulum-v1", (), "clip", np.float32, 2),
    ("Pendulum-v1", (4,), "raw", np.float32, 0),
    ("MountainCar-v0", (16,), "tanh", np.float32, 0),
    ("Acrobot-v1", (8,), "tanh", np.float32, 1),
    # the race track: 120 steps, so that some cars crash and the others are truncated
    ("envs/RaceTrack-v0", (32, 32), "tanh", np.float32, 0),
    ("envs/RaceTrack-v0", (8,), "tanh", np.float32, 2),
    pytest.param("envs/RaceTrack-v0", (8,), "tanh", np.float64, 1, marks=SLOW),
]


def problem_for(env_id: str, hidden: tuple[int, ...], bounds: str) -> EnvProblem:
    env = gymnasium.make(env_id)
    spec = spec_for_spaces(
        env.observation_space, env.action_space, hidden, "tanh", bias=bool(hidden), bounds=bounds
    )
    env.close()
    return EnvProblem(EnvConfig(id=env_id, max_steps=120), spec, vectorized=True)


def played(problem, params, seeds, normalizer):
    """Returns, steps and the observation sums of ``run_episodes``."""
    tally = ObservationTally(seeds.size, problem.policy.obs_dim)
    returns, steps, errors = run_episodes(problem, params, seeds, normalizer, tally)
    assert not errors
    return returns, steps, (tally.sum, tally.sumsq, tally.count)


@pytest.mark.parametrize(("env_id", "hidden", "bounds", "dtype", "normalize"), CASES)
def test_the_compiled_loop_plays_gymnasiums_episodes(env_id, hidden, bounds, dtype, normalize):
    problem = problem_for(env_id, hidden, bounds)
    members, episodes = 7, 3
    assert fused.plays_fused(cached_vector_env(problem.env, members * episodes))
    rng = np.random.default_rng(len(env_id) + normalize)
    params = (rng.standard_normal((members, problem.policy.num_params)) * 0.7).astype(dtype)
    seeds = rng.integers(0, 2**31, size=(members, episodes))
    normalizer = None
    if normalize:
        obs_dim = problem.policy.obs_dim
        stats = ObservationStats(rng.normal(0, 3, obs_dim), rng.uniform(20, 90, obs_dim), 9)
        normalizer = stats.normalizer(clip=1.5 if normalize == 2 else None)
    compiled = played(problem, params, seeds, normalizer)
    single = replace(problem, vectorized=False)  # gymnasium's envs, one at a time
    reference = played(single, params, seeds, normalizer)
    assert compiled[0].tobytes() == reference[0].tobytes()
    np.testing.assert_array_equal(compiled[1], reference[1])
    for ours, theirs in zip(compiled[2], reference[2], strict=True):
        assert ours.tobytes() == theirs.tobytes()
    assert np.unique(compiled[2][0][:, 0]).size == seeds.size  # every lane saw its own
    if env_id in ("CartPole-v1", "envs/RaceTrack-v0"):  # episodes ended at different steps
        assert np.unique(compiled[1]).size > 1  # and the live members varied
    if env_id == "envs/RaceTrack-v0":  # the time limit ended some episodes, crashes others
        assert 0 < np.count_nonzero(compiled[1] == 120) < seeds.size


def test_a_member_plays_the_same_in_any_batch_and_position() -> None:
    problem = problem_for("CartPole-v1", (16,), "tanh")
    rng = np.random.default_rng(5)
    pool = (rng.standard_normal((40, problem.policy.num_params)) * 0.7).astype(np.float32)
    member, seeds = pool[0], rng.integers(0, 2**31, size=2)
    alone = played(problem, member[None], seeds[None], None)[0][0]
    for size in (3, 8, 17, 33):
        for position in {0, size // 2, size - 1}:
            batch = pool[1 : size + 1].copy()
            batch[position] = member
            batch_seeds = rng.integers(0, 2**31, size=(size, 2))
            batch_seeds[position] = seeds
            returns = played(problem, batch, batch_seeds, None)[0]
            assert returns[position].tobytes() == alone.tobytes(), (size, position)
