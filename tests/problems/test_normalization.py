"""Observation normalisation: the statistics, what a worker counts, and what a run keeps."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from evo.analysis.replay import replay
from evo.config import from_dict
from evo.errors import ConfigError
from evo.experiment import run
from evo.lineage import member_arrays, rebuild_member
from evo.policies import MLPSpec
from evo.population import Members
from evo.problems import Chunk, evaluate_chunk, make_problem
from evo.problems.normalization import ObservationStats, normalizer_from
from evo.reporting import Reporter
from evo.runlog import RunFolder, load_npz
from evo.seeding import episode_seeds, final_seeds
from tests.conftest import tiny_config

NORMALISED = {"policy.normalize_observations": True, "policy.observation_clip": 2.0}


def test_the_first_generation_plays_with_mean_0_and_std_1() -> None:
    normalizer = ObservationStats.zeros(3).normalizer()
    obs = np.array([[0.5, -2.0, 7.0]], dtype=np.float32)
    np.testing.assert_array_equal(normalizer(obs), obs)


def test_statistics_centre_scale_and_clip() -> None:
    seen = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 10.0]])
    stats = ObservationStats(seen.sum(axis=0), (seen * seen).sum(axis=0), 2)
    normalizer = stats.normalizer(clip=0.5)
    np.testing.assert_array_equal(normalizer.mean, [2.0, 5.0, 5.0])
    np.testing.assert_array_equal(normalizer.std, [1.0, 1.0, 5.0])  # 5.0 never varied: 1
    out = normalizer(np.array([[2.5, 9.0, 5.0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, 0.5, 0.0]])  # clipped to +-0.5


def test_a_members_sums_do_not_depend_on_its_chunk() -> None:
    problem = make_problem(from_dict(tiny_config(**{"env.max_steps": 80})))
    rng = np.random.default_rng(1)
    params = rng.standard_normal((5, problem.policy.num_params)).astype(np.float32)
    seeds = episode_seeds(3, 0, np.arange(5), 2)
    stats = ObservationStats(np.full(4, 0.5), np.full(4, 2.0), 10)

    def chunk(indices: np.ndarray) -> Chunk:
        members = Members.build(indices, 0, 0.0)
        return Chunk(indices, members, seeds[indices], stats.normalizer(2.0))

    whole = evaluate_chunk(problem, params, chunk(np.arange(5)))
    np.testing.assert_array_equal(whole.observations.count, whole.steps)  # one per step
    for part in (np.array([0, 3]), np.array([4]), np.array([1, 2])):
        alone = evaluate_chunk(problem, params, chunk(part))
        np.testing.assert_array_equal(alone.fitness, whole.fitness[part])
        np.testing.assert_array_equal(alone.observations.sum, whole.observations.sum[part])
        np.testing.assert_array_equal(alone.observations.sumsq, whole.observations.sumsq[part])


def play(env, spec: MLPSpec, params: np.ndarray, stats: ObservationStats, clip: float, seed):
    """One episode with a plain gymnasium loop: its return and raw observation sums."""
    if stats.count:
        mean = stats.sum / stats.count
        std = np.sqrt(np.maximum(stats.sumsq / stats.count - mean * mean, 0.0))
        std[std < 1e-8] = 1.0
    else:
        mean, std = np.zeros(spec.obs_dim), np.ones(spec.obs_dim)
    total, seen = 0.0, ObservationStats.zeros(spec.obs_dim)
    obs, _ = env.reset(seed=int(seed))
    while True:
        raw = np.asarray(obs, dtype=np.float32).astype(np.float64)
        seen = ObservationStats(seen.sum + raw, seen.sumsq + raw * raw, seen.count + 1)
        fed = np.clip((raw - mean) / std, -clip, clip).astype(np.float32)
        action = spec.act(params[None], fed[None, None])[0, 0]
        obs, reward, terminated, truncated, _ = env.step(action.item())
        total += float(reward)
        if terminated or truncated:
            return total, seen


def test_the_statistics_kept_are_the_merge_of_every_generation(tmp_path: Path) -> None:
    """Replayed outside evo's evaluation path: each generation's members, played with the
    statistics of the generations before, give the logged fitness; their sums, merged
    member after member and generation after generation, are what best.npz keeps."""
    algorithm = {"name": "openai_es", "population_size": 4, "sigma": 0.1}
    config = from_dict(tiny_config(**NORMALISED, algorithm=algorithm, generations=3))
    path = run(config, tmp_path, reporter=Reporter(quiet=True)).path
    folder, problem = RunFolder(path), make_problem(config)
    env, running = gymnasium.make("CartPole-v1"), ObservationStats.zeros(4)
    for generation in range(1, 4):  # numbered from 1; seeds come from the index from 0
        record = folder.read_lineage(generation)
        np.testing.assert_array_equal(record["normalization.sum"], running.sum)
        size = len(record["fitness"])
        seeds = problem.generation_seeds(config.seed, generation - 1, size)
        generation_seen = ObservationStats.zeros(4)
        for member in range(size):
            params = rebuild_member(folder, generation, member).params
            returns, member_seen = [], ObservationStats.zeros(4)
            for seed in seeds[member]:
                total, seen = play(env, problem.policy, params, running, 2.0, seed)
                returns.append(total)
                member_seen = member_seen.merge(seen)
            assert np.mean(returns) == record["fitness"][member], (generation, member)
            generation_seen = generation_seen.merge(member_seen)
        np.testing.assert_array_equal(record["observations.sum"], generation_seen.sum)
        running = running.merge(generation_seen)
    best = load_npz(path / "best.npz")
    np.testing.assert_array_equal(best["normalization.sum"], running.sum)
    np.testing.assert_array_equal(best["normalization.sumsq"], running.sumsq)
    assert int(best["normalization.count"]) == running.count
    assert (
        running.count
        == json.loads((path / "metrics.jsonl").read_text().splitlines()[-1])["env_steps"]
    )
    # replay plays best.npz with those statistics: the final evaluation's first episode
    replayed = replay(path, tmp_path / "best.png", still=True)
    total, _ = play(env, problem.policy, best["params"], running, 2.0, final_seeds(1)[0])
    assert replayed.episode_return == total
    # a member exported plays with its own generation's statistics
    exported = member_arrays(rebuild_member(folder, 2, 2))  # the second generation
    frozen = normalizer_from(exported)
    np.testing.assert_array_equal(
        frozen.mean,
        folder.read_lineage(2)["normalization.sum"]
        / (folder.read_lineage(2)["normalization.count"]),
    )
    assert frozen.clip == 2.0


def test_a_short_cartpole_run_with_normalisation_learns(tmp_path: Path) -> None:
    overrides = {
        **NORMALISED,
        "policy.observation_clip": None,
        "seed": 1,
        "generations": 12,
        "env.episodes": 1,
        "algorithm": {"name": "openai_es", "population_size": 20, "learning_rate": 0.05},
        "final_eval.episodes": 10,
    }
    result = run(from_dict(tiny_config(**overrides)), tmp_path, reporter=Reporter(quiet=True))
    metrics = RunFolder(result.path).read_metrics()
    assert metrics[-1]["fitness_mean"] > 10 * metrics[0]["fitness_mean"]
    assert result.summary["final_eval_mean"] >= 475  # CartPole-v1's solved threshold


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"mode": "gradient"}, "policy.normalize_observations: expected false in gradient mode"),
        ({"function": {"dim": 3}}, "policy.normalize_observations: expected false with a"),
        ({"policy.normalize_observations": False}, "policy.observation_clip: expected null"),
    ],
)
def test_normalisation_it_cannot_honour_is_a_config_error(overrides, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        from_dict(tiny_config(**{**NORMALISED, **overrides}))
