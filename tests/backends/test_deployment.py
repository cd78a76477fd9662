"""`evo run` against a real cluster of `dask scheduler` and `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, wait_for_generations, write_config
from tests.dask_processes import _start_scheduler, _start_worker, _stop


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `dask scheduler` and two single-thread `dask worker` processes, stopped afterwards."""
    folder = tmp_path_factory.mktemp("cluster")
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(folder, logs)
        processes.append(scheduler)
        processes += [_start_worker(address, folder, logs) for _ in range(2)]
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(processes)
        logs.close()


def _fitness(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k.startswith("fitness")}
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]


def test_scheduler_flag_and_environment_variable(scheduler_address: str, tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    serial = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "serial"), "--set", "backend.kind=serial"
    )
    assert serial.returncode == 0, serial.stderr
    reference = _fitness(Path(serial.stdout.splitlines()[-1]))

    flag = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "flag"), "--scheduler", scheduler_address
    )
    assert flag.returncode == 0, flag.stderr
    assert f"scheduler at {scheduler_address}, 2 workers" in flag.stdout.splitlines()[0]
    assert _fitness(Path(flag.stdout.splitlines()[-1])) == reference

    env = {**os.environ, "DASK_SCHEDULER_ADDRESS": scheduler_address}
    by_env = subprocess.run(
        [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(tmp_path / "env")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert by_env.returncode == 0, by_env.stderr
    assert f"scheduler at {scheduler_address}" in by_env.stdout.splitlines()[0]
    assert _fitness(Path(by_env.stdout.splitlines()[-1])) == reference


def test_unreachable_scheduler_is_bad_input(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(
            backend={
                "kind": "dask",
                "start_after_s": 0,
                "placement": "cluster",
                "connect_timeout_s": 1,
            }
        ),
    )
    result = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "runs"), "--scheduler", "tcp://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()
        == [
            line
            for line in result.stderr.splitlines()
            if line.startswith("evo: error: --scheduler: cannot reach")
        ]
        and len(result.stderr.splitlines()) == 1
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_all_workers_gone_stops_with_a_checkpoint_then_resumes(tmp_path: Path) -> None:
    """The only worker dies mid-run: the run waits worker_timeout_s, checkpoints and stops
    with one line; with a new worker, `evo resume` ends with the numbers of a serial run."""
    logs = open(tmp_path / "cluster.log", "w")  # noqa: SIM115  (closed below)
    scheduler, address = _start_scheduler(tmp_path, logs)
    workers: list[subprocess.Popen] = []
    try:
        workers.append(_start_worker(address, tmp_path, logs))
        config = tiny_config(
            generations=30,
            env={"id": "Pendulum-v1", "episodes": 3},
            algorithm={"name": "openai_es", "population_size": 16, "sigma": 0.1},
            backend={
                "kind": "dask",
                "start_after_s": 0,
                "placement": "cluster",
                "worker_timeout_s": 3,
            },
            checkpoint={"every": 50},
        )
        path = write_config(tmp_path / "c.yaml", config)
        serial = run_cli(
            "run",
            str(path),
            "--runs-dir",
            str(tmp_path / "serial"),
            "--quiet",
            "--set",
            "backend.kind=serial",
        )
        assert serial.returncode == 0, serial.stderr

        runs = tmp_path / "runs"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evo",
                "run",
                str(path),
                "--runs-dir",
                str(runs),
                "--scheduler",
                address,
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_generations(runs, 3)
        os.killpg(workers[0].pid, signal.SIGKILL)  # the worker and its nanny, no goodbye
        workers[0].wait()
        _, err = process.communicate(timeout=120)
        assert process.returncode == 1, err
        (line,) = err.splitlines()
        assert line.startswith("evo: error: no Dask workers for 3 s")
        (run_dir,) = runs.iterdir()
        events = [json.loads(e) for e in (run_dir / "events.jsonl").read_text().splitlines()]
        assert events[-1]["event"] == "stop" and events[-1]["reason"] == "no_workers"
        assert events[-2]["event"] == "checkpoint"

        workers.append(_start_worker(address, tmp_path, logs))
        resumed = run_cli("resume", str(run_dir), "--scheduler", address)
        assert resumed.returncode == 0, resumed.stderr
        assert _fitness(run_dir) == _fitness(Path(serial.stdout.strip()))
    finally:
        for process_handle in workers:
            if process_handle.poll() is None:
                os.killpg(process_handle.pid, signal.SIGTERM)
        _stop([*workers, scheduler])
        logs.close()


@pytest.mark.slow  # ~45 s, 10 of them Dask's own reconnection attempts
def test_a_dead_scheduler_stops_with_a_checkpoint_then_resumes_elsewhere(tmp_path: Path) -> None:
    """`dask scheduler` SIGKILLed mid-run: evo notices once Dask gives up reconnecting
    (distributed.comm.timeouts.connect, 10 s), checkpoints the last whole generation, logs
    a stop event and exits 1 with one line; `evo resume --scheduler NEW` on a new cluster
    ends with the numbers of a serial run."""
    logs = open(tmp_path / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    try:
        scheduler, address = _start_scheduler(tmp_path / "first", logs)
        processes += [scheduler, _start_worker(address, tmp_path / "first", logs)]
        config = tiny_config(
            generations=60,
            backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"},
            checkpoint={"every": 1000},
        )
        path = write_config(tmp_path / "c.yaml", config)
        serial = run_cli(
            "run", str(path), "--runs-dir", str(tmp_path / "serial"), "--quiet",
            "--set", "backend.kind=serial",
        )  # fmt: skip
        assert serial.returncode == 0, serial.stderr
        runs = tmp_path / "runs"
        process = subprocess.Popen(
            [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(runs),
             "--scheduler", address, "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(process)
        wait_for_generations(runs, 3)
        scheduler.kill()  # no goodbye to anyone
        scheduler.wait()
        _, err = process.communicate(timeout=90)
        assert process.returncode == 1, err
        (line,) = err.splitlines()
        assert line.startswith(f"evo: error: the Dask scheduler at {address} is gone; "), line
        (run_dir,) = runs.iterdir()
        events = [json.loads(e) for e in (run_dir / "events.jsonl").read_text().splitlines()]
        assert events[-1]["event"] == "stop" and events[-1]["reason"] == "scheduler_lost"
        done = events[-1]["generations"]
        assert events[-2]["event"] == "checkpoint" and events[-2]["generation"] == done >= 2
        assert f"after generation {done} is written" in line and f"evo resume {run_dir}" in line
        assert done < 60, "the run ended before the scheduler died"

        _stop(processes[1:2])  # the first cluster's worker
        new_scheduler, new_address = _start_scheduler(tmp_path / "second", logs)
        processes += [new_scheduler, _start_worker(new_address, tmp_path / "second", logs)]
        resumed = run_cli("resume", str(run_dir), "--scheduler", new_address)
        assert resumed.returncode == 0, resumed.stderr
        assert _fitness(run_dir) == _fitness(Path(serial.stdout.strip()))
    finally:
        _stop(processes)
        logs.close()
