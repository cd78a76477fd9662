"""A cluster of two workers on different (emulated) CPUs gives the serial run's numbers.

One `dask worker` runs as this machine is; the other as a CPU without AVX-512, AVX2 or
FMA would (numpy's SIMD dispatch off, numba compiling for a generic x86-64 into a cache
of its own, glibc's libm picking its non-FMA variants). The race track, CartPole and the
digits data set must give the serial run's fitness columns byte for byte, and the events
log must say which worker had which CPU settings.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ON_THE_CLUSTER, run_cli
from tests.dask_processes import _start_scheduler, _start_worker, _stop
from tests.test_portable import older_cpu_environment

CONFIGS = Path(__file__).resolve().parents[2] / "evo" / "configs"
SMALL = ("generations=2", "final_eval.episodes=2")
RUNS = {
    "racetrack-es": ("algorithm.population_size=12", "env.episodes=2"),
    "cartpole-es": ("algorithm.population_size=12",),
    "digits-es": ("algorithm.population_size=12",),
}


@pytest.fixture(scope="module")
def mixed_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `dask scheduler`, one worker as this CPU is and one as an older CPU would be."""
    folder = tmp_path_factory.mktemp("mixed")
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(folder, logs)
        processes.append(scheduler)
        processes.append(_start_worker(address, folder, logs))
        older = older_cpu_environment(folder / "numba-cache-older")
        processes.append(_start_worker(address, folder, logs, env=older))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        _stop(processes)
        logs.close()


def _fitness_columns(run_dir: Path) -> list[str]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [
        json.dumps({k: v for k, v in json.loads(line).items() if k.startswith("fitness")})
        for line in lines
    ]


def _run(config: str, runs_dir: Path, *extra: str) -> Path:
    overrides = [item for value in (*SMALL, *RUNS[config]) for item in ("--set", value)]
    done = run_cli(
        "run", str(CONFIGS / f"{config}.yaml"), "--runs-dir", str(runs_dir), *overrides, *extra,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(RUNS))
def test_mixed_cpus_give_the_serial_numbers(
    config: str, mixed_cluster: str, tmp_path: Path
) -> None:
    serial = _run(config, tmp_path / "serial", "--set", "backend.kind=serial")
    clustered = _run(
        config,
        tmp_path / "cluster",
        *ON_THE_CLUSTER,
        "--scheduler",
        mixed_cluster,
    )
    assert _fitness_columns(clustered) == _fitness_columns(serial)
    events = [json.loads(line) for line in (clustered / "events.jsonl").read_text().splitlines()]
    cpus = [event for event in events if event.get("event") == "worker_cpu"]
    assert len({event["worker"] for event in cpus}) == 2
    assert sorted(event["settings"].get("NUMBA_CPU_NAME", "") for event in cpus) == [
        "",
        "generic",
    ]
    assert all(event["cpu"] for event in cpus)
