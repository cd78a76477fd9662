"""A run killed at any moment resumes to the numbers of a run that never stopped.

SIGKILL of the orchestrator's whole process group (the embedded cluster's workers too)
at moments drawn from a fixed seed: before the first generation ends, while a checkpoint
is being written (its temporary file exists), and anywhere between; SIGINT at moments
from the cluster's start-up on (exit 130). Each time, `evo resume` finishes the run and
every deterministic column of metrics.jsonl equals the uninterrupted run's. A checkpoint
every few seconds (``checkpoint.every_s``) is written at that interval, and resuming
from one is identical too. The default suite has a representative few; ``-m slow`` all.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_cli, start_cli, tiny_config, write_config
from tests.e2e.recorded import TIMING

GENERATIONS = 10
SEED = 20261202  # the moments of the kills: the same every run of the suite


def _config(tmp_path: Path, **overrides: object) -> Path:
    settings = {
        "name": "kills",
        "generations": GENERATIONS,
        "checkpoint.every": 1,
        "policy.hidden_sizes": [64],  # a checkpoint of some size: its write takes a moment
        "algorithm.population_size": 24,
        "final_eval.episodes": 2,
        **overrides,
    }
    return write_config(tmp_path / "run.yaml", tiny_config(**settings))


def _numbers(run_dir: Path) -> list[dict]:
    """metrics.jsonl without the columns that measure time or the cluster."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The numbers of the run that never stopped (serial: the same bits as the cluster's)."""
    tmp_path = tmp_path_factory.mktemp("whole")
    result = run_cli("run", str(_config(tmp_path)), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    numbers = _numbers(Path(result.stdout.strip().splitlines()[-1]))
    assert len(numbers) == GENERATIONS
    return numbers


def _moments(count: int, kinds: tuple[str, ...], rng: random.Random) -> list[tuple[str, float]]:
    """``count`` moments: each a kind and a number in [0, 1) that places it (which
    generation, how far into it), drawn from ``rng``, the kinds in turn."""
    return [(kinds[i % len(kinds)], rng.random()) for i in range(count)]


_RNG = random.Random(SEED)
KILLS = _moments(10, ("first generation", "checkpoint", "anywhere", "anywhere"), _RNG)
INTERRUPTS = [("cluster start-up", 0.0), *_moments(4, ("anywhere",), _RNG)]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait(predicate: Callable[[], bool], what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within 120 s")
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}")
        time.sleep(0.001)


def _temporary(checkpoints: Path) -> bool:
    try:
        return any(entry.name.endswith(".tmp") for entry in os.scandir(checkpoints))
    except FileNotFoundError:
        return False


def _reach(moment: tuple[str, float], runs: Path, process: subprocess.Popen) -> None:
    """Block until the run is at ``moment``."""
    kind, where = moment
    first = lambda: any(runs.glob("*/checkpoints/gen-000000.json"))  # noqa: E731
    _wait(first, "generation-0 checkpoint", process)
    (run_dir,) = runs.iterdir()
    metrics = run_dir / "metrics.jsonl"
    if kind == "first generation":  # the cluster is starting or the generation running
        time.sleep(where * 0.5)
    elif kind == "checkpoint":  # while a generation's checkpoint is being written
        after = 1 + int(where * (GENERATIONS - 2))
        _wait(lambda: _lines(metrics) >= after, f"generation {after}", process)
        _wait(lambda: _temporary(run_dir / "checkpoints"), "checkpoint being written", process)
    elif kind == "anywhere":  # some way into a generation after the first
        generation = 1 + int(where * (GENERATIONS - 2))
        _wait(lambda: _lines(metrics) >= generation, f"generation {generation}", process)
        started = time.monotonic()
        _wait(lambda: _lines(metrics) > generation, f"generation {generation + 1}", process)
        time.sleep((where * 7919 % 1) * (time.monotonic() - started))  # a fraction of one
    else:  # "cluster start-up": the folder exists, the run has not started
        assert kind == "cluster start-up", kind


def _stop(moment: tuple[str, float], signum: int, tmp_path: Path, workers: int) -> Path:
    """Start the run on an embedded cluster, signal its process group at ``moment``; the
    run folder, after checking how the run ended."""
    runs = tmp_path / "runs"
    config = _config(
        tmp_path,
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": workers},
    )
    process = start_cli("run", str(config), "--runs-dir", str(runs))
    try:
        _reach(moment, runs, process)
        os.killpg(process.pid, signum)  # the orchestrator and the cluster's processes
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL, err
    else:
        assert process.returncode == 128 + signum, err
        assert err.strip().splitlines() == [f"evo: interrupted ({signal.Signals(signum).name})"]
    (run_dir,) = runs.iterdir()
    return run_dir


def _resumed(run_dir: Path) -> list[dict]:
    result = run_cli("resume", str(run_dir), "--quiet")
    assert result.returncode == 0, result.stderr
    assert not list(run_dir.rglob(".*.tmp"))  # what the kill left mid-write is gone
    return _numbers(run_dir)


def _kill_and_resume(moment: tuple[str, float], tmp_path: Path, workers: int) -> Path:
    run_dir = _stop(moment, signal.SIGKILL, tmp_path, workers)
    kind = moment[0]
    if kind == "first generation":
        assert _lines(run_dir / "metrics.jsonl") == 0  # killed before it ended
    if kind == "checkpoint":  # the kill left the checkpoint's temporary file, or just missed it
        newest = max(int(p.stem[4:]) for p in (run_dir / "checkpoints").glob("gen-*.json"))
        assert newest >= 1 + int(moment[1] * (GENERATIONS - 2)) - 1
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("moment", KILLS, ids=[f"{k}-{w:.3f}" for k, w in KILLS])
def test_a_killed_run_resumes_identically(
    tmp_path: Path, uninterrupted: list[dict], moment: tuple[str, float]
) -> None:
    run_dir = _kill_and_resume(moment, tmp_path, workers=2)
    assert _resumed(run_dir) == uninterrupted


def test_a_run_killed_mid_checkpoint_resumes(tmp_path: Path, uninterrupted: list[dict]) -> None:
    """The default suite's representative of the kills above: one worker, one moment."""
    run_dir = _kill_and_resume(KILLS[1], tmp_path, workers=1)
    assert _resumed(run_dir) == uninterrupted


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_resumes(
    tmp_path: Path, uninterrupted: list[dict]
) -> None:
    """Killed as soon as its folder has a config: maybe before the generation-0
    checkpoint is whole (only its temporary file, or nothing), maybe just after."""
    runs = tmp_path / "runs"
    config = _config(
        tmp_path, backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 1}
    )
    process = start_cli("run", str(config), "--runs-dir", str(runs))
    try:
        _wait(lambda: any(runs.glob("*/config.yaml")), "config.yaml", process)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    (run_dir,) = runs.iterdir()
    assert _resumed(run_dir) == uninterrupted


def test_a_folder_without_a_checkpoint_starts_again(
    tmp_path: Path, uninterrupted: list[dict]
) -> None:
    """What a kill between config.yaml and the first checkpoint leaves (made here by
    removing the checkpoint of a run stopped at once): resume runs it from the start."""
    config = _config(tmp_path, generations=1)
    result = run_cli("run", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    for name in ("summary.json", "metrics.jsonl", "events.jsonl", "best.npz"):
        (run_dir / name).unlink()
    for path in [*(run_dir / "checkpoints").iterdir(), *(run_dir / "lineage").iterdir()]:
        path.unlink()
    (run_dir / "checkpoints" / ".gen-000000.npz.x1.tmp").write_bytes(b"half")
    text = (
        (run_dir / "config.yaml")
        .read_text()
        .replace("generations: 1", f"generations: {GENERATIONS}")
    )
    (run_dir / "config.yaml").write_text(text)
    assert _resumed(run_dir) == uninterrupted


@pytest.mark.slow
def test_the_kills_hit_a_checkpoint_being_written(tmp_path: Path) -> None:
    """The "checkpoint" moments do catch a write in flight: killed then, a temporary file
    of the checkpoint is left behind (resume removes it), the first few attempts at most."""
    for attempt in range(5):
        (tmp_path / str(attempt)).mkdir()
        run_dir = _stop(("checkpoint", attempt / 5), signal.SIGKILL, tmp_path / str(attempt), 1)
        if list((run_dir / "checkpoints").glob(".*.tmp")):
            return
    pytest.fail("no kill of 5 left a checkpoint's temporary file: the moment is never hit")


@pytest.mark.slow
@pytest.mark.parametrize("moment", INTERRUPTS, ids=[f"{k}-{w:.3f}" for k, w in INTERRUPTS])
def test_an_interrupted_run_resumes_identically(
    tmp_path: Path, uninterrupted: list[dict], moment: tuple[str, float]
) -> None:
    run_dir = _stop(moment, signal.SIGINT, tmp_path, workers=2)
    events = _events(run_dir)
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "interrupted"
    started = any(event["event"] == "start" for event in events)
    assert started == (moment[0] != "cluster start-up"), events  # it was the moment named
    assert _resumed(run_dir) == uninterrupted


def test_checkpoints_every_few_seconds(tmp_path: Path) -> None:
    """``checkpoint.every_s``: a checkpoint once that long has passed since the last, so
    consecutive ones are at least that far apart and at most a generation more; resuming
    from one in the middle gives the same numbers."""
    every_s = 0.1
    generations = 40
    checkpoint = {"every": 1000, "every_s": every_s, "keep": 1000}
    config = _config(tmp_path, generations=generations, checkpoint=checkpoint)
    result = run_cli("run", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    whole = _numbers(run_dir)
    # the checkpoints the clock asked for: not generation 0's, nor the run's last (a
    # finished run saves its end whatever the time)
    timed = [e for e in _events(run_dir) if e["event"] == "checkpoint"]
    timed = [e for e in timed if e["generation"] < generations]
    saved = [e for e in timed if e["generation"] > 0]
    ends = [e["time"] for e in timed]
    # the time each generation took (the longest bounds how late a checkpoint can come)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    clock = [0.0, *(line["time_s"] for line in metrics)]
    longest = max(b - a for a, b in itertools.pairwise(clock)) + 0.05  # and writing
    span = ends[-1] - ends[0]
    assert len(saved) >= 2, timed  # the run lasted several intervals
    for before, after in itertools.pairwise(ends):
        assert every_s - 0.01 <= after - before <= every_s + longest + 0.01, (before, after)
    assert span / (every_s + longest) - 1 <= len(saved) <= span / every_s + 1
    # resume from a checkpoint in the middle: as if the run had stopped there
    middle = saved[len(saved) // 2]["generation"]
    for path in (run_dir / "checkpoints").glob("gen-*"):
        if int(path.name[4:10]) > middle:
            path.unlink()
    (run_dir / "summary.json").unlink()
    assert _resumed(run_dir) == whole
