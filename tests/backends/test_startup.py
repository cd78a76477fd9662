"""An embedded cluster's workers start in the background: the generations evaluated in
process meanwhile, and those on the workers after, give the serial backend's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from evo.backends.dask import DaskBackend
from evo.backends.serial import SerialBackend
from evo.config import from_dict
from evo.noise import NoiseTable
from evo.population import Members, Population
from evo.problems import make_problem
from tests.conftest import tiny_config


def population(problem, generation: int, size: int = 12) -> tuple[Population, np.ndarray]:
    """A generation's candidates around a random centre, and their episode seeds."""
    rng = np.random.default_rng(generation)
    centre = rng.standard_normal((1, problem.policy.num_params)).astype(np.float32)
    members = Members.build(np.zeros(size, dtype=np.int32), np.arange(size) + 100 * generation, 0.1)
    table = NoiseTable(size=2**16, seed=1)
    return Population(centre, members, noise=table), problem.generation_seeds(7, generation, size)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_generations_before_and_after_the_workers_are_up_match_serial(env_id: str) -> None:
    config = from_dict(
        tiny_config(
            **{"env.id": env_id, "env.max_steps": 100}, backend={"kind": "dask", "workers": 2}
        )
    )
    problem = make_problem(config)
    serial = SerialBackend(problem, config.backend)
    backend = DaskBackend(problem, config.backend)  # an embedded cluster, workers starting
    try:
        first = backend.evaluate(*population(problem, 1), 1)
        assert first.workers == 1 and first.tasks == 1  # in this process
        backend.wait_for_workers()
        later = [backend.evaluate(*population(problem, g), g) for g in (2, 3)]
        assert all(e.workers == 2 for e in later)  # on the cluster
        for generation, evaluation in zip((1, 2, 3), [first, *later], strict=True):
            expected = serial.evaluate(*population(problem, generation), generation)
            assert evaluation.fitness.tobytes() == expected.fitness.tobytes(), generation
            np.testing.assert_array_equal(evaluation.steps, expected.steps)
        assert np.unique(first.fitness).size > 1
        # the workers that joined at start-up are not cluster events
        assert not [e for e in later[0].events if e["event"] == "worker_joined"]
    finally:
        backend.close()
    assert backend.client.status == "closed"


def test_a_backend_closed_while_its_workers_start_closes_cleanly() -> None:
    config = from_dict(tiny_config(backend={"kind": "dask", "workers": 2}))
    backend = DaskBackend(make_problem(config), config.backend)
    assert ", 2 workers (starting), dashboard http://127.0.0.1:" in backend.describe()
    backend.close()
    assert backend.client.status == "closed"
    assert backend.cluster.status.name == "closed"


def test_a_worker_removed_before_it_was_added_does_not_fail_the_close() -> None:
    """Dask's race: the cluster hears of a worker's removal before its addition."""
    from evo.backends.local_cluster import embedded_cluster

    cluster = embedded_cluster(n_workers=1, threads_per_worker=1, host="127.0.0.1")
    try:
        cluster._update_worker_status("remove", "tcp://127.0.0.1:1")  # never added
        assert len(cluster.scheduler_info["workers"]) == 1  # the real one is still known
    finally:
        cluster.close()
    assert cluster.status.name == "closed"
