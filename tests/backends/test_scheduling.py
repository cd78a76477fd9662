"""Work placement: chunk plans, task counts from measured work, benchmark functions, `evo bench`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from evo.backends.base import TASKS_PER_SLOT, member_groups, plan_chunks, task_count
from evo.config import from_dict
from evo.noise import NoiseTable, noise
from evo.population import Bases, Members, Population, materialize
from evo.problems import Chunk, evaluate_chunk, make_problem
from tests.conftest import run_cli, write_config


def _antithetic(pairs: int) -> Members:
    """An ES population: the incumbent, then (+noise, -noise) pairs."""
    seeds = np.concatenate([[0], np.repeat(np.arange(1, pairs + 1), 2)])
    signs = np.concatenate([[1], np.tile([1, -1], pairs)])
    scales = np.concatenate([[0.0], np.full(2 * pairs, 0.1)])
    return Members.build(np.zeros(len(seeds), dtype=np.int32), seeds, scales, signs)


@pytest.mark.parametrize("chunk_size", ["auto", 3, 7, 100])
@pytest.mark.parametrize("slots", [0, 1, 2, 5])
def test_a_plan_covers_every_member_once_in_order(chunk_size, slots: int) -> None:
    members = _antithetic(20)
    plan = plan_chunks(members, chunk_size, slots)
    flat = np.concatenate(plan)
    assert sorted(flat.tolist()) == list(range(len(members)))
    assert all(np.all(np.diff(chunk) > 0) for chunk in plan)  # ascending within a task


def test_antithetic_pairs_share_a_task_and_their_noise() -> None:
    members = _antithetic(20)
    groups = member_groups(members)
    assert groups[1] == groups[2] and groups[2] != groups[3]  # a pair, then the next pair
    for chunk in plan_chunks(members, "auto", 2):
        offsets = members.noise_offset[chunk]
        paired = offsets[members.scale[chunk] != 0]
        assert all(np.sum(paired == s) == 2 for s in paired)
    # Materialising a pair together draws the noise once and gives the same bits.
    table = NoiseTable(size=100)
    vectors = np.random.default_rng(0).standard_normal((1, 50)).astype(np.float32)
    bases = Bases(vectors, noise=table)
    together = materialize(bases, members)
    alone = np.stack([materialize(bases, members.take(np.array([i])))[0] for i in range(41)])
    np.testing.assert_array_equal(together, alone)
    coefficient = np.float32(0.1) * np.float32(-1)
    np.testing.assert_array_equal(
        together[2], vectors[0] + coefficient * noise(table, members.noise_offset[2], 50)
    )


def test_more_tasks_than_pairs_splits_the_pairs() -> None:
    plan = plan_chunks(_antithetic(5), 1, 2)
    assert [len(c) for c in plan] == [1] * 11


def test_task_count_follows_the_measured_work() -> None:
    assert task_count(None, 2) == TASKS_PER_SLOT * 2  # nothing measured yet
    assert task_count(0.001, 2) == 1  # too little work to split
    assert task_count(0.05, 2) == 2  # a task per thread, each under 100 ms
    assert task_count(0.5, 2) == 4  # ~125 ms per task
    assert task_count(100.0, 2) == TASKS_PER_SLOT * 2  # capped
    assert task_count(100.0, 0) == 1  # in process
    assert task_count(None, 2, batched=True) == 2  # lockstep batches: one per thread
    assert task_count(100.0, 2, batched=True) == 2
    assert task_count(0.15, 2, batched=True) == 1  # a small lockstep batch stays whole
    assert task_count(0.25, 2, batched=True) == 2
    assert task_count(0.001, 2, batched=True) == 1


def test_a_function_problem_scores_minus_the_function() -> None:
    config = from_dict({"function": {"name": "rastrigin", "dim": 6}})
    problem = make_problem(config)
    assert problem.policy.num_params == 6
    bases = Bases(np.zeros((1, 6), dtype=np.float32), noise=NoiseTable(size=32))
    members = Members.build([0, 0, 0], [0, 11, 12], [0.0, 0.5, 0.5])
    chunk = Chunk(np.arange(3), members, np.zeros((3, 1), dtype=np.uint32))
    result = evaluate_chunk(problem, bases, chunk)
    x = Population(bases.vectors, members, noise=bases.noise).params().astype(np.float64)
    expected = -(60.0 + (x * x - 10.0 * np.cos(2.0 * np.pi * x)).sum(axis=1))
    np.testing.assert_array_equal(result.fitness, expected)
    assert result.fitness[0] == 0.0  # the optimum


def test_a_function_run_and_bad_function_config(tmp_path: Path) -> None:
    config = {
        "name": "sphere",
        "generations": 4,
        "function": {"name": "sphere", "dim": 20},
        "algorithm": {"name": "openai_es", "population_size": 16, "sigma": 0.1},
        "backend": {"kind": "serial"},
        "final_eval": {"episodes": 1},
    }
    path = write_config(tmp_path / "sphere.yaml", config)
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.strip()) / "summary.json").read_text())
    assert summary["function"] == "sphere" and summary["num_params"] == 20
    assert summary["final_eval_mean"] > summary["best_fitness"] - 1e9  # a number, not NaN
    bad = run_cli("run", str(path), "--set", "function.name=sphear")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "function.name" in bad.stderr
    assert "did you mean 'sphere'" in bad.stderr


def test_bench_config_compares_serial_and_dask(tmp_path: Path) -> None:
    config = {
        "name": "bench-sphere",
        "function": {"name": "sphere", "dim": 1000},
        "algorithm": {"name": "openai_es", "population_size": 100, "sigma": 0.1},
        "backend": {"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2},
    }
    path = write_config(tmp_path / "sphere.yaml", config)
    result = run_cli("bench", str(path), "--generations", "2", "--repeats", "1", "--warmup", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ("evaluations/s", "speedup", "orchestration overhead", "bytes sent / gen"):
        assert label in out
    assert "fitness identical on both backends: yes" in out
    traffic = next(line for line in out.splitlines() if line.startswith("traffic"))
    assert f"of {100 * 1000 * 4:,} bytes" in traffic  # population x parameters x float32
    bad = run_cli("bench", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_bench_soak_reports_memory_growth(tmp_path: Path) -> None:
    config = {
        "name": "soak-sphere",
        "function": {"name": "sphere", "dim": 10},
        "algorithm": {"name": "openai_es", "population_size": 10, "sigma": 0.1},
        "backend": {"kind": "serial"},
    }
    path = write_config(tmp_path / "sphere.yaml", config)
    result = run_cli("bench", str(path), "--soak", "100")
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("RSS after 50 generations") and "growth" in last
    assert "generation    100" in result.stdout
    assert not list(tmp_path.glob("runs*"))  # the soak's run folder is temporary
    short = run_cli("bench", str(path), "--soak", "10")
    assert short.returncode == 2 and "--soak" in short.stderr


def _results_on_cluster(client) -> set[str]:
    """Keys of chunk results the scheduler still holds."""

    def keys(dask_scheduler) -> set[str]:
        return {str(key) for key in dask_scheduler.tasks if str(key).startswith("run_on_worker")}

    return client.run_on_scheduler(keys)


def _until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_batchs_results_are_released_once_the_next_batch_is_submitted(client_2workers) -> None:
    """A client sends the scheduler a message at most every 10 ms: releasing a batch's
    futures as it ends would hold up the next batch's tasks. They go with the next batch;
    the numbers are the same as in process."""
    from evo.backends.dask import DaskBackend
    from evo.backends.serial import SerialBackend

    config = from_dict(
        {
            "function": {"name": "sphere", "dim": 8},
            "backend": {"kind": "dask", "placement": "cluster", "start_after_s": 0},
        }
    )
    problem = make_problem(config)
    rng = np.random.default_rng(4)
    params = rng.standard_normal((12, problem.policy.num_params)).astype(np.float32)
    population = Population(params, Members.build(np.arange(12), 0, 0.0))
    seeds = problem.generation_seeds(0, 0, population.size)
    serial = SerialBackend(problem, config.backend).evaluate(population, seeds, 0)
    before = _results_on_cluster(client_2workers)
    backend = DaskBackend(problem, config.backend, client=client_2workers)
    try:
        first = backend.evaluate(population, seeds, 0)
        held = _results_on_cluster(client_2workers) - before
        # Collected, and still wanted a second later (a release would have arrived by then).
        assert not _until(lambda: not held & _results_on_cluster(client_2workers), timeout=1.0)
        second = backend.evaluate(population, seeds, 1)
        assert _until(lambda: not held & _results_on_cluster(client_2workers))
        last = _results_on_cluster(client_2workers) - before
        assert last and not last & held
    finally:
        backend.close()
    assert _until(lambda: not last & _results_on_cluster(client_2workers))  # closed: released
    for evaluation in (first, second):
        np.testing.assert_array_equal(evaluation.fitness, serial.fitness)
