"""A run stopped at any moment resumes with the numbers of a run that never stopped:
SIGINT and SIGTERM write a checkpoint of the last whole generation (exit 130 / 143), the
initial state is a checkpoint, and a Ctrl-C while the cluster starts is not lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_cli, start_cli, tiny_config, write_config

GENERATIONS = 8


def _config(tmp_path: Path, **overrides: object) -> Path:
    settings = {
        "generations": GENERATIONS,
        "checkpoint.every": 1000,
        "algorithm.population_size": 40,
        **overrides,
    }
    config = tiny_config(**settings)
    return write_config(tmp_path / "run.yaml", config)


def _columns(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    keep = ("generation", "evaluations", "env_steps", "best_so_far", "solution_fitness")
    return [
        {k: v for k, v in json.loads(line).items() if k.startswith("fitness") or k in keep}
        for line in lines
    ]


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The fitness columns of the run that never stopped (serial: the same bits)."""
    tmp_path = tmp_path_factory.mktemp("whole")
    result = run_cli("run", str(_config(tmp_path)), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    return _columns(Path(result.stdout.strip().splitlines()[-1]))


def _start(config: Path, runs: Path) -> subprocess.Popen:
    return start_cli("run", str(config), "--runs-dir", str(runs))


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.005)


@pytest.mark.parametrize(
    ("moment", "signum"),
    [
        ("cluster start-up", signal.SIGINT),
        ("after generation 3", signal.SIGINT),
        ("after generation 5", signal.SIGTERM),
    ],
)
def test_an_interrupted_run_resumes_identically(
    tmp_path: Path, uninterrupted: list[dict], moment: str, signum: int
) -> None:
    runs = tmp_path / "runs"
    config = _config(
        tmp_path, backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2}
    )
    process = _start(config, runs)
    try:
        if moment == "cluster start-up":
            # The folder and its generation-0 checkpoint come before the cluster.
            _wait_for(lambda: any(runs.glob("*/checkpoints/gen-000000.json")), "checkpoint")
        else:
            wanted = f"gen {moment.split()[-1]}/"
            _wait_for(lambda: process.stdout.readline().startswith(wanted), wanted)
        os.killpg(process.pid, signum)  # the whole group, as a terminal's Ctrl-C
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, err
    assert err.strip().splitlines() == [f"evo: interrupted ({name})"], err
    (run_dir,) = runs.iterdir()
    events = _events(run_dir)
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "interrupted"
    started = any(e["event"] == "start" for e in events)
    assert started == (moment != "cluster start-up"), events  # it was the moment named
    done = events[-1]["generations"]
    if moment != "cluster start-up":
        # the line of generation k is printed before its stop rule and checkpoint: k - 1
        # whole generations at least
        assert int(moment.split()[-1]) - 1 <= done < GENERATIONS
        # the interrupt's checkpoint: the last whole generation
        assert (run_dir / "checkpoints" / f"gen-{done:06d}.json").is_file()
    resumed = run_cli("resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert _columns(run_dir) == uninterrupted


def test_a_run_killed_before_its_first_generation_resumes(
    tmp_path: Path, uninterrupted: list[dict]
) -> None:
    runs = tmp_path / "runs"
    process = _start(
        _config(
            tmp_path,
            backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 1},
        ),
        runs,
    )
    try:
        _wait_for(lambda: any(runs.glob("*/checkpoints/gen-000000.json")), "checkpoint")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    (run_dir,) = runs.iterdir()
    resumed = run_cli("resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert _columns(run_dir) == uninterrupted


def test_resume_changes_only_safe_keys(tmp_path: Path, uninterrupted: list[dict]) -> None:
    runs = tmp_path / "runs"
    short = run_cli(
        "run", str(_config(tmp_path, generations=3)), "--runs-dir", str(runs), "--quiet"
    )
    assert short.returncode == 0, short.stderr
    run_dir = Path(short.stdout.strip().splitlines()[-1])
    (run_dir / "summary.json").unlink()  # as if it had stopped after 3 generations
    before = (run_dir / "config.yaml").read_bytes()
    refused = run_cli("resume", str(run_dir), "--set", "algorithm.sigma=0.2")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "evo: error: --set algorithm.sigma: cannot change on resume (it changes what the run "
        "computes); resume can change generations, stop.*, backend.*, checkpoint.*, "
        "final_eval.*, logging.*"
    ]
    assert (run_dir / "config.yaml").read_bytes() == before  # nothing written
    longer = run_cli("resume", str(run_dir), "--set", f"generations={GENERATIONS}", "--quiet")
    assert longer.returncode == 0, longer.stderr
    assert _columns(run_dir) == uninterrupted
    assert f"generations: {GENERATIONS}" in (run_dir / "config.yaml").read_text()
    (resume,) = [e for e in _events(run_dir) if e["event"] == "resume"]
    assert resume["changed"] == ["generations"]


def test_temporary_files_of_a_killed_write_are_removed_on_resume(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    short = run_cli("run", str(_config(tmp_path)), "--runs-dir", str(runs), "--quiet")
    run_dir = Path(short.stdout.strip().splitlines()[-1])
    (run_dir / "summary.json").unlink()
    left = [
        run_dir / "checkpoints" / ".gen-000004.npz.abc123.tmp",
        run_dir / ".metrics.jsonl.x.tmp",
        run_dir / "lineage" / ".000004.npz.y.tmp",
    ]
    for path in left:
        path.write_bytes(b"half")
    resumed = run_cli("resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert [path for path in left if path.exists()] == []
