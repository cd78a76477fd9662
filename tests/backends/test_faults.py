"""Faults on a real cluster (`dask scheduler` and `dask worker` processes on 127.0.0.1):
workers killed, hung, poisoned, joining and leaving mid-run. The fitness columns
must stay identical to an undisturbed in-process run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from evo.seeding import episode_seeds
from tests.conftest import (
    FITNESS_COLUMNS,
    REPO,
    run_cli,
    tiny_config,
    wait_for_generations,
    write_config,
)
from tests.dask_processes import _start_scheduler, _start_worker, _stop

EVO = [sys.executable, "-m", "evo"]


@dataclass
class Cluster:
    """A scheduler and its workers, each worker with its nanny in a process group of its own."""

    folder: Path
    address: str
    logs: object
    processes: list[subprocess.Popen] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)

    def add_worker(self) -> subprocess.Popen:
        worker = _start_worker(self.address, self.folder, self.logs)
        self.processes.append(worker)
        self.workers.append(worker)
        return worker

    def worker_pids(self, count: int) -> dict[str, int]:
        """Worker address -> pid of the worker process itself (not its nanny)."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)
            return client.run(os.getpid)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A `dask scheduler` (no workers yet); everything it started is stopped afterwards."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # workers import tests.helpers
    # Two deaths make a task "poison" (Dask's default is three): shorter tests.
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "1")
    folder = tmp_path / "cluster"
    folder.mkdir()
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    scheduler, address = _start_scheduler(folder, logs)
    handle = Cluster(folder, address, logs, processes=[scheduler])
    try:
        yield handle
    finally:
        for process in handle.workers:  # a stopped worker cannot stop
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
        _stop(handle.processes)
        logs.close()


def _config(tmp_path: Path, **overrides: object) -> Path:
    # Pendulum episodes always last 200 steps: generations take a predictable while. Named
    # by its class, Pendulum is played one env at a time (its lockstep version, ~10x
    # faster, would end the run before a killed worker's nanny has restarted it).
    pendulum = "gymnasium.envs.classic_control.pendulum:PendulumEnv"
    settings: dict[str, object] = {
        "generations": 10,
        "env": {"id": "Pendulum-v1", "entry_point": pendulum, "max_steps": 200, "episodes": 4},
        "algorithm": {"name": "openai_es", "population_size": 32, "sigma": 0.1},
        "backend": {
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "worker_timeout_s": 60,
        },
        "checkpoint": {"every": 5},
        "final_eval": {"episodes": 8},
    }
    config = tiny_config(**{**settings, **overrides})
    return write_config(tmp_path / "config.yaml", config)


def _columns(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in FITNESS_COLUMNS} for line in lines]


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _serial_reference(path: Path, tmp_path: Path, *overrides: str) -> Path:
    sets = [x for o in ("backend.kind=serial", *overrides) for x in ("--set", o)]
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "serial"), "--quiet", *sets)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def _start_run(path: Path, runs_dir: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*EVO, "run", str(path), "--runs-dir", str(runs_dir), "--scheduler", address, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> Path:
    try:
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    return Path(out.strip())


def _two_workers_and_a_run(
    cluster: Cluster, tmp_path: Path
) -> tuple[Path, subprocess.Popen, dict[str, int], str]:
    """The serial reference run, then two workers and a run on them in the background:
    (reference run folder, the run, worker pids, the worker to disturb)."""
    path = _config(tmp_path)
    reference = _serial_reference(path, tmp_path)
    cluster.add_worker()
    cluster.add_worker()
    pids = cluster.worker_pids(2)
    run = _start_run(path, tmp_path / "runs", cluster.address)
    return reference, run, pids, sorted(pids)[0]


def test_a_worker_killed_mid_generation(cluster: Cluster, tmp_path: Path) -> None:
    reference, run, pids, victim = _two_workers_and_a_run(cluster, tmp_path)
    try:
        wait_for_generations(tmp_path / "runs", 3)
        os.kill(pids[victim], signal.SIGKILL)  # its nanny starts a new worker
    finally:
        run_dir = _finish(run)
    assert _columns(run_dir) == _columns(reference)
    left = [e for e in _events(run_dir) if e["event"] == "worker_left"]
    assert [e["worker"] for e in left] == [victim]
    assert any(e["event"] == "worker_joined" for e in _events(run_dir))  # the restarted one


@pytest.mark.slow
def test_a_worker_killed_while_a_generation_is_cut_by_tracks(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The race track with common tracks: each generation's tasks are blocks of tracks for
    every member, joined on the orchestrator; a lost block is played again elsewhere."""
    race = {"id": "envs/RaceTrack-v0", "episodes": 8, "common_seeds": True, "max_steps": 400}
    path = _config(
        tmp_path,
        generations=25,
        env=race,
        algorithm={"name": "openai_es", "population_size": 48, "sigma": 0.5},
        policy={"hidden_sizes": [16]},
    )
    reference = _serial_reference(path, tmp_path)
    cluster.add_worker()
    cluster.add_worker()
    pids = cluster.worker_pids(2)
    victim = sorted(pids)[0]
    run = _start_run(path, tmp_path / "runs", cluster.address)
    try:
        wait_for_generations(tmp_path / "runs", 3)
        os.kill(pids[victim], signal.SIGKILL)
    finally:
        run_dir = _finish(run)
    assert _columns(run_dir) == _columns(reference)
    assert [e["worker"] for e in _events(run_dir) if e["event"] == "worker_left"] == [victim]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(m["tasks"] for m in metrics) >= 2  # generations were cut


@pytest.mark.slow
def test_a_hung_worker_is_worked_around(cluster: Cluster, tmp_path: Path) -> None:
    reference, run, pids, victim = _two_workers_and_a_run(cluster, tmp_path)
    try:
        wait_for_generations(tmp_path / "runs", 3)
        os.kill(pids[victim], signal.SIGSTOP)  # alive to the kernel, silent to Dask
        run_dir = _finish(run)
    finally:
        os.kill(pids[victim], signal.SIGCONT)
        if run.poll() is None:
            run.kill()
    assert _columns(run_dir) == _columns(reference)
    resubmitted = [e for e in _events(run_dir) if e["event"] == "stragglers_resubmitted"]
    assert resubmitted, "the straggling chunks were not run again elsewhere"
    assert all(e["slow_workers"] == [victim] for e in resubmitted)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(m["retried"] for m in metrics) >= resubmitted[0]["chunks"]


@pytest.mark.slow
def test_a_worker_that_was_only_slow_comes_back(cluster: Cluster, tmp_path: Path) -> None:
    """Stopped for a while, then continued: the worker is left out for a few generations
    (probation), then works again."""
    path = _config(tmp_path, generations=16)
    reference = _serial_reference(path, tmp_path)
    cluster.add_worker()
    cluster.add_worker()
    pids = cluster.worker_pids(2)
    victim = sorted(pids)[0]
    runs = tmp_path / "runs"
    run = _start_run(path, runs, cluster.address)
    try:
        wait_for_generations(runs, 3)
        os.kill(pids[victim], signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            e["event"] == "stragglers_resubmitted" for e in _events(next(runs.iterdir()))
        ):
            time.sleep(0.05)
    finally:
        os.kill(pids[victim], signal.SIGCONT)
    run_dir = _finish(run)
    assert _columns(run_dir) == _columns(reference)
    events = _events(run_dir)
    (first,) = [e for e in events if e["event"] == "stragglers_resubmitted"][:1]
    assert first["slow_workers"] == [victim]
    workers = [m["workers"] for m in _metrics(run_dir)]
    after = workers[first["generation"] :]  # the lines after generation N's (line N)
    assert after[:5] == [1] * 5, workers  # left out for 5 generations
    assert 2 in after[5:], workers  # and back


@pytest.mark.slow
def test_a_poison_member_scores_minus_infinity(cluster: Cluster, tmp_path: Path) -> None:
    config_seed, generation, member = 7, 1, 5  # generation of index 1 (seeds): number 2
    poison = int(episode_seeds(config_seed, generation, np.arange(32), 4, common=False)[member, 2])
    path = _config(
        tmp_path,
        env={
            "id": "tests.helpers:PoisonPendulum-v0",
            "episodes": 4,
            "kwargs": {"poison_seed": poison},
            "on_error": "penalize",
        },
    )
    # In process the poisoned episode raises instead, and `penalize` scores the member -inf.
    reference = _serial_reference(path, tmp_path)
    cluster.add_worker()
    cluster.add_worker()
    cluster.worker_pids(2)
    run_dir = _finish(_start_run(path, tmp_path / "runs", cluster.address))
    assert _columns(run_dir) == _columns(reference)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    failed = [1 if m["generation"] == generation + 1 else 0 for m in metrics]
    assert [m["failed"] for m in metrics] == failed and sum(failed) == 1
    poisoned = [e for e in _events(run_dir) if e["event"] == "member_killed_workers"]
    assert [(e["generation"], e["member"]) for e in poisoned] == [(generation + 1, member)]
    assert any(e["event"] == "chunk_split" and member in e["members"] for e in _events(run_dir))


@pytest.mark.slow
def test_workers_joining_and_leaving(cluster: Cluster, tmp_path: Path) -> None:
    path = _config(tmp_path)
    reference = _serial_reference(path, tmp_path)
    first = cluster.add_worker()
    cluster.worker_pids(1)
    run = _start_run(path, tmp_path / "runs", cluster.address)
    try:
        wait_for_generations(tmp_path / "runs", 2)
        cluster.add_worker()
        cluster.worker_pids(2)
        wait_for_generations(tmp_path / "runs", 5)
        os.killpg(first.pid, signal.SIGTERM)  # the first worker and its nanny leave
    finally:
        run_dir = _finish(run)
    assert _columns(run_dir) == _columns(reference)
    events = [e["event"] for e in _events(run_dir)]
    assert "worker_joined" in events and "worker_left" in events
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {m["workers"] for m in metrics} >= {1, 2}


@pytest.mark.parametrize("method", [pytest.param("reinforce", marks=pytest.mark.slow), "ppo"])
def test_gradient_training_survives_a_killed_worker(
    cluster: Cluster, tmp_path: Path, method: str
) -> None:
    """Policy gradient on Pendulum: a worker SIGKILLed mid-run; its tasks are run again
    elsewhere (with PPO, the episodes it kept are played again) and the parameters come
    out the same bits as in process."""
    config = tiny_config(
        name="pg",
        mode="gradient",
        generations=20 if method == "reinforce" else 10,
        env={"id": "Pendulum-v1"},
        gradient={
            "optimizer": "adam",
            "learning_rate": 0.01,
            "batch_size": 16,
            "shards": 4,
            "method": method,
            "minibatches": 2,
            "ppo_epochs": 2,
        },
        backend={
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "worker_timeout_s": 60,
        },
        checkpoint={"every": 5},
        final_eval={"episodes": 4},
    )
    config.pop("algorithm")
    path = write_config(tmp_path / "pg.yaml", config)
    reference = _serial_reference(path, tmp_path)
    cluster.add_worker()
    cluster.add_worker()
    pids = cluster.worker_pids(2)
    run = _start_run(path, tmp_path / "runs", cluster.address)
    try:
        wait_for_generations(tmp_path / "runs", 3)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
    finally:
        run_dir = _finish(run)
    columns = [*FITNESS_COLUMNS, "loss", "update_norm"]
    for got, expected in zip(_metrics(run_dir), _metrics(reference), strict=True):
        assert {k: got[k] for k in columns} == {k: expected[k] for k in columns}
    final = sorted((run_dir / "checkpoints").glob("*.npz"))[-1]
    expected_final = reference / "checkpoints" / final.name
    with np.load(final) as got, np.load(expected_final) as expected:
        np.testing.assert_array_equal(got["state.params"], expected["state.params"])
    left = [e for e in _events(run_dir) if e["event"] == "worker_left"]
    assert [e["worker"] for e in left] == [sorted(pids)[0]]


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
