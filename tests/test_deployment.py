"""`evo run` against a real cluster of `dask scheduler` and `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config

# `dask scheduler` and `dask worker`, from this interpreter (whatever is first on PATH).
SCHEDULER = [sys.executable, "-m", "dask", "scheduler"]
WORKER = [sys.executable, "-m", "dask", "worker"]


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `dask scheduler` and two single-thread `dask worker` processes, stopped afterwards."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes = [
        subprocess.Popen(
            [
                *SCHEDULER,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            ],
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        *WORKER,
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--local-directory",
                        str(folder),
                    ],
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                )
            )
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
    path = write_config(tmp_path / "c.yaml", tiny_config(backend={"kind": "dask"}))
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
        tmp_path / "c.yaml", tiny_config(backend={"kind": "dask", "connect_timeout_s": 1})
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
            if line.startswith("evo: error: backend.scheduler: cannot reach")
        ]
        and len(result.stderr.splitlines()) == 1
    )
    assert not (tmp_path / "runs").exists()
