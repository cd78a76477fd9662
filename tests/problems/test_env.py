"""Evaluation on workers: lockstep episodes, seeds, chunk independence, failures named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evo.config import from_dict
from evo.errors import EvaluationError
from evo.experiment import run
from evo.population import Members
from evo.problems import Chunk, evaluate_chunk, make_problem
from evo.problems.rollout import run_episodes
from evo.reporting import Reporter
from evo.seeding import confirm_seeds, episode_seeds, final_seeds
from tests.conftest import run_cli, tiny_config, write_config


def problem_and_params(members: int = 6, env_id: str = "CartPole-v1", **env):
    config = from_dict(tiny_config(**{"env.id": env_id, **{f"env.{k}": v for k, v in env.items()}}))
    problem = make_problem(config)
    rng = np.random.default_rng(0)
    params = rng.standard_normal((members, problem.policy.num_params)).astype(np.float32)
    return problem, params


def chunk_of(params: np.ndarray, indices: np.ndarray, seeds: np.ndarray) -> Chunk:
    members = Members.build(indices, 0, 0.0)  # base i is member i: a dense population
    return Chunk(indices, members, seeds[indices])


@pytest.mark.parametrize(
    ("env_id", "max_steps"),
    [("CartPole-v1", 60), ("Pendulum-v1", 60), ("LunarLander-v3", 60), ("BipedalWalker-v3", 400)],
)
def test_member_results_do_not_depend_on_chunk_company(env_id: str, max_steps: int) -> None:
    # BipedalWalker's reset keeps its Box2D world: an env instance that played other
    # episodes before plays the next one differently, so no instance is reused.
    problem, params = problem_and_params(members=6, env_id=env_id, max_steps=max_steps)
    seeds = episode_seeds(3, 0, np.arange(6), 2)
    whole = evaluate_chunk(problem, params, chunk_of(params, np.arange(6), seeds))
    for part in (np.array([0, 3]), np.array([5]), np.array([1, 2, 4])):
        alone = evaluate_chunk(problem, params, chunk_of(params, part, seeds))
        np.testing.assert_array_equal(alone.fitness, whole.fitness[part])
        np.testing.assert_array_equal(alone.steps, whole.steps[part])
    assert np.unique(whole.fitness).size > 1


@pytest.mark.parametrize("reuse", [False, True])
def test_a_third_party_vector_env_is_made_anew_for_every_chunk(reuse: bool) -> None:
    # Memory-v0's vector env adds to every reward the resets it saw before: kept from
    # chunk to chunk (env.reuse_instances), a chunk's numbers depend on what ran before.
    problem, params = problem_and_params(
        members=4, env_id="tests.helpers:Memory-v0", reuse_instances=reuse
    )
    assert problem.vectorized and not problem.safe_in_process
    seeds = episode_seeds(3, 0, np.arange(4), 2)
    first = evaluate_chunk(problem, params, chunk_of(params, np.arange(4), seeds))
    again = evaluate_chunk(problem, params, chunk_of(params, np.arange(4), seeds))
    if reuse:
        assert np.all(again.fitness > first.fitness)
    else:
        np.testing.assert_array_equal(again.fitness, first.fitness)


def test_lockstep_matches_one_episode_at_a_time() -> None:
    problem, params = problem_and_params(members=3)
    seeds = episode_seeds(5, 2, np.arange(3), 3)
    returns, steps, _ = run_episodes(problem, params, seeds)
    for member in range(3):
        for episode in range(3):
            single = seeds[member : member + 1, episode : episode + 1]
            r, s, _ = run_episodes(problem, params[member : member + 1], single)
            assert r[0, 0] == returns[member, episode] and s[0, 0] == steps[member, episode]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"])
def test_a_member_scores_the_same_in_any_lane_of_any_batch_and_as_one_env(env_id: str) -> None:
    """Lockstep (one lane per member's episode, the classic-control kernels) gives each
    member the bits of the one-env-at-a-time path, wherever it sits among how many."""
    problem, params = problem_and_params(members=64, env_id=env_id, max_steps=150)
    one_env = problem.unbatched()
    assert problem.vectorized and not one_env.vectorized
    seeds = episode_seeds(11, 1, np.arange(64), 2)
    member = 0
    returns, steps, _ = run_episodes(one_env, params[:1], seeds[:1])
    if env_id == "CartPole-v1":
        assert (steps < 150).any()  # an episode ended early (the pole fell)
    for size in (1, 3, 8, 17, 64):
        for position in sorted({0, size // 2, size - 1}):
            rows = np.arange(1, size + 1) % 64  # other members around it
            rows[position] = member
            got, got_steps, errors = run_episodes(problem, params[rows], seeds[rows])
            assert not errors
            assert got[position].tobytes() == returns[0].tobytes(), (size, position)
            np.testing.assert_array_equal(got_steps[position], steps[0])
    whole, _, _ = run_episodes(problem, params, seeds)
    alone = np.concatenate(
        [run_episodes(one_env, params[i : i + 1], seeds[i : i + 1])[0] for i in range(64)]
    )
    assert whole.tobytes() == alone.tobytes()
    assert np.unique(whole).size > 1


def test_fitness_is_mean_episode_return() -> None:
    problem, params = problem_and_params(members=2)
    seeds = episode_seeds(1, 0, np.arange(2), 3)
    returns, steps, _ = run_episodes(problem, params, seeds)
    result = evaluate_chunk(problem, params, chunk_of(params, np.arange(2), seeds))
    np.testing.assert_array_equal(result.fitness, returns.mean(axis=1))
    np.testing.assert_array_equal(result.steps, steps.sum(axis=1))


def test_seed_streams_are_deterministic_and_disjoint() -> None:
    training = episode_seeds(0, 0, np.arange(50), 4)
    np.testing.assert_array_equal(training, episode_seeds(0, 0, np.arange(50), 4))
    assert len(np.unique(training)) == training.size
    # Member 7's seeds do not depend on which other members are asked for.
    np.testing.assert_array_equal(episode_seeds(0, 0, np.array([7]), 4)[0], training[7])
    assert not np.array_equal(training, episode_seeds(0, 1, np.arange(50), 4))
    common = episode_seeds(0, 0, np.arange(50), 4, common=True)
    assert (common == common[0]).all() and len(np.unique(common[0])) == 4
    assert not np.isin(common[0], training).any()
    assert not np.array_equal(common, episode_seeds(0, 1, np.arange(50), 4, common=True))
    final, confirm = final_seeds(1000), confirm_seeds(0, 3, 1000)
    assert (training < 2**31).all()
    assert ((final >> 30) == 3).all() and ((confirm >> 30) == 2).all()
    np.testing.assert_array_equal(final[:10], final_seeds(10))
    assert len(np.unique(final)) == 1000


def test_a_failing_member_is_reported_and_the_others_still_evaluated() -> None:
    problem, params = problem_and_params(members=4, env_id="tests.helpers:Exploding-v0")
    seeds = episode_seeds(0, 0, np.arange(4), 2)
    result = evaluate_chunk(problem, params, chunk_of(params, np.array([2, 3]), seeds))
    assert result.errors == {2: "ValueError: boom", 3: "ValueError: boom"}
    assert np.isnan(result.fitness).all()
    healthy, _ = problem_and_params(
        members=4, env_id="tests.helpers:Exploding-v0", kwargs={"explode_at": 10**6}
    )
    result = evaluate_chunk(healthy, params, chunk_of(params, np.array([2, 3]), seeds))
    assert result.errors == {} and np.isfinite(result.fitness).all()


def test_failed_evaluation_stops_the_run_with_an_event(tmp_path: Path) -> None:
    config = from_dict(tiny_config(**{"env.id": "tests.helpers:Exploding-v0"}))
    with pytest.raises(EvaluationError, match="generation 1, member 0"):
        run(config, tmp_path, reporter=Reporter(quiet=True))
    (run_dir,) = tmp_path.iterdir()
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "stop" and last["reason"] == "error" and "boom" in last["message"]


def test_failed_evaluation_on_dask_workers_is_one_line(tmp_path: Path) -> None:
    config = tiny_config(
        **{"env.id": "tests.helpers:Exploding-v0"},
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2},
    )
    path = write_config(tmp_path / "exploding.yaml", config)
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "evo: error: evaluation failed at generation 1, member 0: ValueError: boom "
        "(and 10 more members)"  # all 11 members (10 perturbed + the centre) failed
    ]


def test_a_failed_evaluation_stops_after_a_checkpoint(tmp_path: Path) -> None:
    config = from_dict(tiny_config(**{"env.id": "tests.helpers:Exploding-v0"}))
    with pytest.raises(EvaluationError):
        run(config, tmp_path, reporter=Reporter(quiet=True))
    (run_dir,) = tmp_path.iterdir()
    assert [p.name for p in sorted((run_dir / "checkpoints").iterdir())] == [
        "gen-000000.json",
        "gen-000000.npz",
    ]


def test_failed_members_can_score_minus_infinity_instead(tmp_path: Path) -> None:
    config = from_dict(
        tiny_config(
            env={
                "id": "tests.helpers:Exploding-v0",
                "kwargs": {"odd_seeds_only": True},
                "episodes": 1,
                "on_error": "penalize",
            },
            algorithm={"name": "ga", "population_size": 12, "truncation": 3},
            final_eval={"episodes": 0},
        )
    )
    result = run(config, tmp_path, reporter=Reporter(quiet=True))
    metrics = [
        json.loads(line) for line in (result.path / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(metrics) == 3 and all(0 < m["failed"] < 12 for m in metrics)
    assert all(m["fitness_max"] is not None for m in metrics)  # the healthy members still count
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    failures = [e for e in events if e["event"] == "members_failed"]
    assert len(failures) == 3 and failures[0]["first_error"] == "ValueError: boom"
    assert len(failures[0]["members"]) == metrics[0]["failed"]


def test_worker_env_caches_are_bounded_and_close_what_they_drop() -> None:
    from evo.config import EnvConfig
    from evo.problems.rollout import CACHE_ENTRIES, cached_vector_env

    env = EnvConfig(id="envs/RaceTrack-v0")  # its close() marks it closed
    first = cached_vector_env(env, 1)
    assert cached_vector_env(env, 1) is first  # reused
    made = [cached_vector_env(env, count) for count in range(2, CACHE_ENTRIES + 3)]
    assert first.closed and made[0].closed  # the two oldest were dropped and closed
    assert not any(v.closed for v in made[2:])
    fresh = cached_vector_env(env, 1)
    assert fresh is not first and not fresh.closed  # rebuilt on demand
