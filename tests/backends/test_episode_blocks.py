"""A generation cut by blocks of episodes (the race track's tracks) as well as by members:
when the blocks are used, and that the joined parts give a whole chunk's bits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evo.backends.base import assemble, episode_blocks, plan_tasks
from evo.backends.dask import DaskBackend
from evo.backends.serial import SerialBackend
from evo.config import from_dict
from evo.experiment import run
from evo.population import Members, Population
from evo.problems import make_problem
from evo.problems.base import ChunkResult, evaluate_chunk, join_episodes
from evo.problems.normalization import ObservationStats
from evo.reporting import Reporter
from evo.seeding import episode_seeds
from tests.conftest import FITNESS_COLUMNS


def race_config(**overrides: object) -> dict:
    config: dict = {
        "name": "blocks",
        "seed": 3,
        "generations": 3,
        "env": {"id": "envs/RaceTrack-v0", "episodes": 8, "common_seeds": True, "max_steps": 150},
        "policy": {"hidden_sizes": [8]},
        "algorithm": {"name": "openai_es", "population_size": 12, "sigma": 0.5},
        "backend": {"kind": "serial"},
        "final_eval": {"episodes": 4},
    }
    config.update(overrides)
    return config


def dense_population(problem, members: int, seed: int = 0) -> Population:
    """``members`` random policies (base i is member i), scaled so some cars drive a while."""
    rng = np.random.default_rng(seed)
    params = (rng.standard_normal((members, problem.policy.num_params)) * 0.5).astype(np.float32)
    return Population(params, Members.build(np.arange(members), 0, 0.0))


@pytest.fixture(scope="module")
def race_problem():
    return make_problem(from_dict(race_config()))


def test_blocks_only_for_shared_episodes_of_equal_size(race_problem) -> None:
    common = episode_seeds(3, 0, np.arange(10), 8, common=True)
    assert episode_blocks(race_problem, common, 2, None) == 2
    assert episode_blocks(race_problem, common, 4, None) == 4
    assert episode_blocks(race_problem, common, 16, None) == 8  # then 2 groups of members
    assert episode_blocks(race_problem, common, 3, None) == 1  # 8 episodes: no 3 equal blocks
    assert episode_blocks(race_problem, common, 1, None) == 1
    assert episode_blocks(race_problem, common[:, :3], 2, None) == 1  # 2 + 1 would be unequal
    own = episode_seeds(3, 0, np.arange(10), 8, common=False)  # a track per car: no sharing
    assert episode_blocks(race_problem, own, 2, None) == 1
    normalizer = ObservationStats.zeros(race_problem.policy.obs_dim).normalizer(5.0)
    assert episode_blocks(race_problem, common, 2, normalizer) == 1
    data = make_problem(from_dict({"data": {"name": "digits"}}))
    assert not data.splits_episodes
    assert episode_blocks(data, common, 2, None) == 1


@pytest.mark.parametrize("slots", [2, 4, 16])
def test_joined_parts_give_the_whole_chunks_bits(race_problem, slots: int) -> None:
    population = dense_population(race_problem, 11)
    seeds = race_problem.generation_seeds(3, 5, population.size)
    whole = SerialBackend(race_problem, from_dict(race_config()).backend).evaluate(
        population, seeds, 5
    )
    chunks = plan_tasks(race_problem, population, seeds, "auto", slots)
    blocks = episode_blocks(race_problem, seeds, slots, None)
    assert len(chunks) == slots and blocks == min(slots, 8)
    assert all(c.episodes is not None and len(c.episodes) == 8 // blocks for c in chunks)
    results = [evaluate_chunk(race_problem, population.shared, c) for c in chunks]
    assert all(np.isnan(r.fitness).all() for r in results)  # parts: no fitness of their own
    split = assemble(population.size, results[::-1], workers=1)  # any order of arrival
    np.testing.assert_array_equal(split.fitness, whole.fitness)
    np.testing.assert_array_equal(split.steps, whole.steps)
    assert np.unique(whole.fitness).size > 3  # members differ: not a degenerate check
    assert split.tasks == slots and (split.member_task >= 0).all()


def test_an_explicit_chunk_size_keeps_whole_episodes(race_problem) -> None:
    population = dense_population(race_problem, 11)
    seeds = race_problem.generation_seeds(3, 5, population.size)
    chunks = plan_tasks(race_problem, population, seeds, 4, 2)
    assert [len(c.indices) for c in chunks] == [4, 4, 3]
    assert all(c.episodes is None and c.episode_seeds.shape[1] == 8 for c in chunks)


def _part(indices, columns, returns, errors=None, killed=False) -> ChunkResult:
    indices, columns = np.array(indices), np.array(columns)
    shape = (len(indices), len(columns))
    return ChunkResult(
        indices=indices,
        fitness=np.full(len(indices), np.nan),
        steps=np.zeros(len(indices), dtype=np.int64),
        errors=errors or {},
        episodes=columns,
        returns=None if killed else np.asarray(returns, dtype=np.float64).reshape(shape),
        episode_steps=None if killed else np.ones(shape, dtype=np.int64),
    )


def test_a_join_names_the_first_error_and_scores_a_killer_minus_infinity() -> None:
    parts = [
        _part([0, 1, 2], [2, 3], [1, 2, 3, 4, 5, 6], errors={1: "late"}),
        _part([0, 1, 2], [0, 1], [0.5, 0.25, 7, 8, 9, 10], errors={1: "early", 2: "only"}),
    ]
    (joined,) = join_episodes(parts)
    np.testing.assert_array_equal(joined.indices, [0, 1, 2])
    assert joined.fitness[0] == np.array([0.5, 0.25, 1.0, 2.0]).mean()
    assert np.isnan(joined.fitness[1]) and np.isnan(joined.fitness[2])
    assert joined.errors == {1: "early", 2: "only"}
    assert joined.steps.tolist() == [4, 4, 4]
    # A member split out of a part that killed its workers: the others are joined as usual.
    parts = [
        _part([0, 1], [0], [1.0, 2.0]),
        _part([0], [1], [], killed=True),
        _part([1], [1], [4.0]),
    ]
    (joined,) = join_episodes(parts)
    assert joined.fitness.tolist() == [-np.inf, 3.0] and joined.steps.tolist() == [0, 2]
    whole = ChunkResult(np.array([5]), np.array([1.5]), np.array([3]))
    assert join_episodes([whole]) == [whole]


def test_dask_plays_a_generation_by_tracks_with_the_serial_bits(
    race_problem, client_2workers
) -> None:
    population = dense_population(race_problem, 9, seed=1)
    seeds = race_problem.generation_seeds(3, 2, population.size)
    config = from_dict(race_config(backend={"kind": "dask"}))
    serial = SerialBackend(race_problem, config.backend).evaluate(population, seeds, 2)
    backend = DaskBackend(race_problem, config.backend, client=client_2workers)
    try:
        split = backend.evaluate(population, seeds, 2)  # nothing measured yet: a task a thread
    finally:
        backend.close()
    np.testing.assert_array_equal(split.fitness, serial.fitness)
    np.testing.assert_array_equal(split.steps, serial.steps)
    assert split.tasks == 2
    # Every member is in both tasks (a block of tracks each), named by the first.
    assert set(split.member_task.tolist()) == {0}


def _fitness_columns(run_dir: Path) -> list[str]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.dumps({k: json.loads(line)[k] for k in FITNESS_COLUMNS}) for line in lines]


def test_race_track_runs_split_by_tracks_match_serial(
    tmp_path: Path, client_1worker, client_2workers
) -> None:
    folders = {}
    for label, client, kind in [
        ("serial", None, "serial"),
        ("one", client_1worker, "dask"),
        ("two", client_2workers, "dask"),
    ]:
        config = from_dict(race_config(backend={"kind": kind}))
        result = run(config, tmp_path / label, client=client, reporter=Reporter(quiet=True))
        folders[label] = result.path
    reference = _fitness_columns(folders["serial"])
    assert len(reference) == 3
    assert _fitness_columns(folders["one"]) == reference
    assert _fitness_columns(folders["two"]) == reference
    summaries = {k: json.loads((p / "summary.json").read_text()) for k, p in folders.items()}
    assert summaries["two"]["final_eval_mean"] == summaries["serial"]["final_eval_mean"]
