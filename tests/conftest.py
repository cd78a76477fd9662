"""Shared fixtures: tiny experiment configs and real Dask LocalClusters with worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
# `evo run` overrides for the Dask backend with every generation on the workers: the
# cluster started at once, never a generation kept in process (the tests of the cluster)
ON_THE_CLUSTER = [
    "--set",
    "backend.kind=dask",
    "--set",
    "backend.start_after_s=0",
    "--set",
    "backend.placement=cluster",
]

# The columns of metrics.jsonl that must be identical wherever evaluation runs.
FITNESS_COLUMNS = [
    "generation",
    "evaluations",
    "env_steps",
    "fitness_max",
    "fitness_mean",
    "fitness_median",
    "fitness_min",
    "fitness_std",
    "solution_fitness",
    "best_so_far",
]


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A CartPole experiment small enough for a test (a few seconds at most)."""
    config: dict[str, Any] = {
        "name": "tiny",
        "seed": 7,
        "generations": 3,
        "env": {"id": "CartPole-v1", "episodes": 2},
        "policy": {"hidden_sizes": [8]},
        "algorithm": {"name": "openai_es", "population_size": 10, "sigma": 0.1},
        "backend": {"kind": "serial"},
        "checkpoint": {"every": 2},
        "final_eval": {"episodes": 4},
    }
    for key, value in overrides.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """The real `evo` command line in a subprocess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "evo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    """The real `evo` command line started in a subprocess of its own session (so that a
    test can signal its whole process group, as a terminal does), output unbuffered and
    piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "evo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_generations(runs_dir: Path, count: int, timeout: float = 120) -> None:
    """Block until the one run under ``runs_dir`` has logged ``count`` generations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logged = list(runs_dir.glob("*/metrics.jsonl"))
        if logged and len(logged[0].read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{runs_dir}: fewer than {count} generations after {timeout} s")


def _local_client(workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    try:
        client.wait_for_workers(workers)
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="session")
def client_1worker() -> Iterator[Any]:
    """A real LocalCluster with one worker process."""
    yield from _local_client(1)


@pytest.fixture(scope="session")
def client_2workers() -> Iterator[Any]:
    """A real LocalCluster with two worker processes."""
    yield from _local_client(2)
