"""Dask's conventions with real `dask scheduler` / `dask worker` processes: a bare HOST:PORT,
Dask's own config file, and workers that cannot run evo's tasks (no evo, another version)
reported in seconds, or left out when they join during a run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evo import __version__
from tests.conftest import REPO, run_cli, tiny_config, wait_for_generations, write_config
from tests.dask_processes import WORKER, _start_scheduler, _start_worker

SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def _worker_without_evo(address: str, folder: Path, logs) -> subprocess.Popen:
    """A `dask worker` whose Python has every package but evo: no site hooks (`-S`, so no
    editable install's finder) and only site-packages on its path."""
    env = {**os.environ, "PYTHONPATH": SITE_PACKAGES}
    command = [sys.executable, "-S", *WORKER[1:], address, "--nthreads", "1"]
    command += ["--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)]
    return subprocess.Popen(
        command, stdout=logs, stderr=subprocess.STDOUT, cwd=folder, env=env, start_new_session=True
    )


def _worker_with_version(version: str, address: str, folder: Path, logs) -> subprocess.Popen:
    """A `dask worker` that imports a copy of evo whose ``__version__`` is ``version``."""
    copy = folder / f"evo-{version}"
    if not copy.exists():
        shutil.copytree(REPO / "evo", copy / "evo", ignore=shutil.ignore_patterns("__pycache__"))
        init = copy / "evo" / "__init__.py"
        text = re.sub(r"__version__ = .*\n", f'__version__ = "{version}"\n', init.read_text())
        init.write_text(text)
    env = {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{REPO}"}
    command = [*WORKER, address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
    return subprocess.Popen(
        [*command, "--local-directory", str(folder)],
        stdout=logs,
        stderr=subprocess.STDOUT,
        cwd=folder,
        env=env,
        start_new_session=True,
    )


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=60)


def _kill(process: subprocess.Popen) -> None:
    """Kill a process started here and its children (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for_worker_count(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        deadline = time.monotonic() + 60
        while len(client.scheduler_info(n_workers=-1)["workers"]) != count:
            assert time.monotonic() < deadline, "the scheduler never saw the workers change"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, object, list[subprocess.Popen]]]:
    """A `dask scheduler` and one good `dask worker`, its folder, log and processes (a test
    appends what it starts); all killed at the end."""
    folder = tmp_path_factory.mktemp("cluster")
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(folder, logs)
        processes.append(scheduler)
        processes.append(_start_worker(address, folder, logs))
        _wait_for_workers(address, 1)
        yield address, folder, logs, processes
    finally:
        for process in reversed(processes):
            _kill(process)
        logs.close()


@pytest.fixture
def extra_worker(cluster) -> Iterator[list[subprocess.Popen]]:
    """Where a test puts a worker it adds to the cluster: killed after the test, and the
    scheduler back to its one good worker."""
    address = cluster[0]
    added: list[subprocess.Popen] = []
    try:
        yield added
    finally:
        for process in added:
            _kill(process)
        _wait_for_worker_count(address, 1)


def _dask_config(tmp_path: Path, config: dict) -> Path:
    folder = tmp_path / "dask-config"
    folder.mkdir()
    (folder / "evo-test.yaml").write_text(json.dumps(config))
    return folder


def test_host_port_and_dask_config_reach_the_scheduler(cluster, tmp_path: Path) -> None:
    address = cluster[0]
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    bare = address.removeprefix("tcp://")
    done = run_cli("run", str(path), "--runs-dir", str(tmp_path / "bare"), "--scheduler", bare)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"dask backend: scheduler at {address}, 1 workers")

    # `scheduler-address` in a Dask config file (DASK_CONFIG names its folder), as HOST:PORT.
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env["DASK_CONFIG"] = str(_dask_config(tmp_path, {"scheduler-address": bare}))
    by_config = subprocess.run(
        [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(tmp_path / "config")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert by_config.returncode == 0, by_config.stderr
    assert by_config.stdout.startswith(f"dask backend: scheduler at {address}, 1 workers")
    reference = (Path(done.stdout.splitlines()[-1]) / "metrics.jsonl").read_text()
    seen = (Path(by_config.stdout.splitlines()[-1]) / "metrics.jsonl").read_text()
    fitness = [[v for k, v in json.loads(line).items() if k.startswith("fitness")] for line in
               reference.splitlines()]  # fmt: skip
    assert fitness == [
        [v for k, v in json.loads(line).items() if k.startswith("fitness")]
        for line in seen.splitlines()
    ]


def test_a_malformed_address_from_dask_config_names_its_source(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env["DASK_CONFIG"] = str(_dask_config(tmp_path, {"scheduler-address": "no-port"}))
    done = subprocess.run(
        [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "evo: error: Dask's config (scheduler-address): expected an address like "
        "tcp://HOST:PORT or HOST:PORT, found 'no-port'\n"
    )
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("kind", ["without evo", "another version"])
def test_an_unfit_worker_is_named_in_seconds(
    kind: str, cluster, extra_worker: list, tmp_path: Path
) -> None:
    address, folder, logs, _ = cluster
    if kind == "without evo":
        extra_worker.append(_worker_without_evo(address, folder, logs))
    else:
        extra_worker.append(_worker_with_version("9.9.9", address, folder, logs))
    _wait_for_workers(address, 2)
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    started = time.monotonic()
    done = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--scheduler", address)
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    line = done.stderr.strip()
    assert re.match(r"evo: error: Dask worker tcp://127\.0\.0\.1:\d+: ", line), line
    if kind == "without evo":
        assert "cannot import evo (ModuleNotFoundError: No module named 'evo')" in line
        assert f"it needs evo {__version__}" in line
    else:
        assert f"evo 9.9.9 (here {__version__})" in line
    assert elapsed <= 10, f"{elapsed:.1f} s"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_worker_joining_with_another_version_is_left_out(
    cluster, extra_worker: list, tmp_path: Path
) -> None:
    address, folder, logs, _ = cluster
    config = tiny_config(
        generations=100000,
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"},
        checkpoint={"every": 1000},
    )
    path = write_config(tmp_path / "c.yaml", config)
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    run = subprocess.Popen(
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for_generations(runs, 1)
        extra_worker.append(_worker_with_version("9.9.9", address, folder, logs))
        (folder_run,) = runs.iterdir()
        events = folder_run / "events.jsonl"
        deadline = time.monotonic() + 60
        while "worker_excluded" not in events.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        excluded = [e for e in map(json.loads, events.read_text().splitlines())
                    if e["event"] == "worker_excluded"]  # fmt: skip
        assert len(excluded) == 1, events.read_text()
        assert f"evo 9.9.9 (here {__version__})" in excluded[0]["reason"]
        logged = len((folder_run / "metrics.jsonl").read_text().splitlines())
        wait_for_generations(runs, logged + 5)  # the run goes on, on the good worker
    finally:
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    bad = excluded[0]["worker"]
    from evo.lineage import recorded_generations
    from evo.runlog import RunFolder

    folder_of_run = RunFolder.open(folder_run)
    workers = set()
    for generation in range(1, recorded_generations(folder_of_run) + 1):
        workers |= {str(w) for w in folder_of_run.read_lineage(generation)["workers"]}
    assert bad not in workers and len(workers) == 1, workers
