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
            **{"env.id": env_id, "env.max_steps": 100},
            backend={"kind": "dask", "workers": 2, "start_after_s": 0, "placement": "cluster"},
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
    config = from_dict(tiny_config(backend={"kind": "dask", "workers": 2, "start_after_s": 0}))
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


def dask_children() -> set[int]:
    """This process's Dask worker processes (other tests' clusters included)."""
    import multiprocessing

    return {p.pid for p in multiprocessing.active_children() if "Dask" in p.name}


def serial_fitness(problem, config, generations) -> dict[int, bytes]:
    serial = SerialBackend(problem, config.backend)
    return {g: serial.evaluate(*population(problem, g), g).fitness.tobytes() for g in generations}


def test_a_deferred_start_begins_once_generations_took_start_after_s() -> None:
    backend_config = {"kind": "dask", "workers": 2, "start_after_s": 1e-6, "placement": "cluster"}
    config = from_dict(tiny_config(**{"env.max_steps": 60}, backend=backend_config))
    problem = make_problem(config)
    backend = DaskBackend(problem, config.backend)
    try:
        assert backend.connection is None  # nothing started yet, not even a scheduler
        assert "started once generations have run 1e-06 s" in backend.describe()
        first = backend.evaluate(*population(problem, 0), 0)  # the first does not count
        assert backend.connection is None and not backend._startup.begun
        second = backend.evaluate(*population(problem, 1), 1)
        assert backend._startup.begun and first.workers == second.workers == 1
        backend.wait_for_workers()
        third = backend.evaluate(*population(problem, 2), 2)
        assert third.workers == 2  # on the cluster
        started = [e for e in third.events if e["event"] == "cluster_started"]
        assert (
            len(started) == 1
            and "embedded LocalCluster at tls://127.0.0.1:" in started[0]["backend"]
        )
        assert 0 < started[0]["open_s"] <= started[0]["start_s"]
        expected = serial_fitness(problem, config, (0, 1, 2))
        got = {0: first, 1: second, 2: third}
        assert {g: e.fitness.tobytes() for g, e in got.items()} == expected
    finally:
        backend.close()
    assert backend.client.status == "closed"


def test_a_run_shorter_than_start_after_s_starts_no_cluster() -> None:
    before = dask_children()
    config = from_dict(tiny_config(backend={"kind": "dask", "workers": 2, "start_after_s": 3600}))
    problem = make_problem(config)
    backend = DaskBackend(problem, config.backend)
    try:
        evaluations = [backend.evaluate(*population(problem, g), g) for g in range(3)]
        final = backend.evaluate(*population(problem, 3), -1)  # a final evaluation
        assert all(e.workers == 1 for e in [*evaluations, final])
        assert backend.connection is None and not backend._startup.begun
        assert backend.cluster_size() == (0, 0)
        assert dask_children() <= before
    finally:
        backend.close()
    expected = serial_fitness(problem, config, range(3))
    assert {g: e.fitness.tobytes() for g, e in enumerate(evaluations)} == expected


def test_closing_during_a_deferred_start_leaves_no_process_and_no_traceback(capfd) -> None:
    before = dask_children()
    backend_config = {"kind": "dask", "workers": 2, "start_after_s": 1e-6, "placement": "cluster"}
    config = from_dict(tiny_config(backend=backend_config))
    problem = make_problem(config)
    backend = DaskBackend(problem, config.backend)
    for generation in (0, 1):
        backend.evaluate(*population(problem, generation), generation)
    assert backend._startup.begun
    backend._startup.opened.wait(60)  # the scheduler is up; its workers are starting
    assert not backend._startup.ready.is_set()
    backend.close()
    assert backend.client.status == "closed"
    assert dask_children() <= before
    assert "Traceback" not in capfd.readouterr().err


def test_generations_too_small_to_gain_from_workers_never_start_them() -> None:
    """CartPole's tiny generations take less than a cluster's round trip: however long the
    run, no cluster is started (placement auto); with placement cluster, one is."""
    before = dask_children()
    for placement, starts in (("auto", False), ("cluster", True)):
        backend_config = {
            "kind": "dask",
            "workers": 2,
            "start_after_s": 1e-6,
            "placement": placement,
        }
        config = from_dict(tiny_config(**{"env.max_steps": 30}, backend=backend_config))
        problem = make_problem(config)
        backend = DaskBackend(problem, config.backend)
        try:
            evaluations = [backend.evaluate(*population(problem, g), g) for g in range(4)]
            assert backend._startup.begun == starts, placement
            assert all(e.workers == 1 for e in evaluations)
        finally:
            backend.close()
        expected = serial_fitness(problem, config, range(4))
        assert {g: e.fitness.tobytes() for g, e in enumerate(evaluations)} == expected
    assert dask_children() <= before


def test_tiny_generations_stay_in_this_process_once_measured() -> None:
    backend_config = {"kind": "dask", "workers": 2, "start_after_s": 0, "placement": "auto"}
    config = from_dict(tiny_config(**{"env.max_steps": 30}, backend=backend_config))
    problem = make_problem(config)
    assert problem.safe_in_process
    backend = DaskBackend(problem, config.backend)
    try:
        backend.wait_for_workers()
        # a first on the cluster (its round trip measured), the next here: 10 members of
        # 30-step CartPole episodes take far less than a round trip
        evaluations = [backend.evaluate(*population(problem, g), g) for g in range(4)]
        assert evaluations[0].workers == 2
        assert [e.workers for e in evaluations[2:]] == [1, 1]
    finally:
        backend.close()
    expected = serial_fitness(problem, config, range(4))
    assert {g: e.fitness.tobytes() for g, e in enumerate(evaluations)} == expected


@pytest.mark.parametrize("method", ["reinforce", "ppo"])
def test_gradient_rounds_before_and_after_the_workers_are_up_match_serial(method: str) -> None:
    """A gradient round while the workers start runs in this process (as a generation
    does), instead of waiting for them; the rounds on the cluster after give the same bits."""
    from evo.methods import make_method
    from tests.methods.test_gradient import pg_config

    raw = pg_config()
    raw["gradient"] = {**raw["gradient"], "method": method, "minibatches": 2, "ppo_epochs": 1}
    raw["backend"] = {"kind": "dask", "workers": 2, "start_after_s": 0, "placement": "cluster"}
    config = from_dict(raw)
    problem = make_problem(config)
    trainer = make_method(config, problem)
    serial = SerialBackend(problem, config.backend)
    backend = DaskBackend(problem, config.backend)  # an embedded cluster, workers starting
    try:
        here, there = trainer.init(7), trainer.init(7)
        workers = []
        for round_ in range(3):
            if round_ == 1:
                backend.wait_for_workers()
            here, *_ = trainer.round(serial, here)
            there, _, run, _ = trainer.round(backend, there)
            workers.append(run.workers)
            assert there.params.tobytes() == here.params.tobytes(), round_
            assert there.opt_step == here.opt_step > 0
        assert workers == [1, 2, 2]  # the first in this process, the others on the cluster
    finally:
        backend.close()
    assert backend.client.status == "closed"


def test_the_gil_switches_often_while_the_workers_start_and_as_before_after() -> None:
    """The start-up thread (the scheduler's start and its event loop) gets the GIL back
    from generations running here within a short switch interval, until they are up."""
    import sys

    from evo.backends.startup import START_SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    config = from_dict(tiny_config(backend={"kind": "dask", "workers": 2, "start_after_s": 0}))
    backend = DaskBackend(make_problem(config), config.backend)
    try:
        backend._startup.opened.wait(60)  # the scheduler is up; its workers are starting
        assert not backend._startup.ready.is_set()
        assert sys.getswitchinterval() == START_SWITCH_INTERVAL_S
        backend.wait_for_workers()
        assert sys.getswitchinterval() == before
    finally:
        backend.close()
