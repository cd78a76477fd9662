"""Running a sweep: each run as if alone, failures, Ctrl-C and `--resume`, one shared client."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from evo.analysis.inspect import format_sweep
from evo.config import from_dict, load_config
from evo.experiment import run
from evo.sweep import SweepFolder, resume_sweep, run_sweep
from tests.conftest import run_cli, start_cli, tiny_config, write_config
from tests.sweep.conftest import fitness_columns, small_config


def test_a_run_of_a_sweep_equals_the_same_run_alone(sweep, tmp_path: Path) -> None:
    path, _ = sweep
    member = path / "sigma=0.1-seed=1"
    config = load_config(member / "config.yaml")
    alone = dataclasses.replace(config, backend=dataclasses.replace(config.backend, kind="serial"))
    result = run(alone, tmp_path)
    assert fitness_columns(result.path) == fitness_columns(member)
    assert fitness_columns(member) != fitness_columns(path / "sigma=0.1-seed=0")


def test_a_failing_run_does_not_stop_the_others(tmp_path: Path) -> None:
    config = tiny_config(
        generations=2,
        env={"id": "tests.helpers:Exploding-v0", "episodes": 1},
        **{"algorithm.population_size": 8, "final_eval.episodes": 2},
    )
    path = write_config(tmp_path / "exploding.yaml", config)
    grid = {"env.kwargs.explode_at": [3, 1000]}
    result = run_sweep(path, [0, 1], grid, runs_dir=tmp_path / "runs")
    statuses = {entry["folder"]: entry["status"] for entry in result.runs}
    cli = run_cli(
        "sweep", str(path), "--seeds", "0-1", "--grid", "env.kwargs.explode_at=3,1000",
        "--runs-dir", str(tmp_path / "cli"), "--quiet",
    )  # fmt: skip
    assert cli.returncode == 1 and cli.stdout.strip().startswith(str(tmp_path / "cli"))
    assert cli.stderr.splitlines() == [
        f"evo: error: 2 of 4 runs failed (see `evo inspect {cli.stdout.strip()}`)"
    ]
    assert statuses == {
        "explode_at=3-seed=0": "failed",
        "explode_at=3-seed=1": "failed",
        "explode_at=1000-seed=0": "finished",
        "explode_at=1000-seed=1": "finished",
    }
    assert all("boom" in entry["error"] for entry in result.failed)
    record = json.loads((result.path / "sweep.json").read_text())
    assert record["status"] == "failed" and record["runs"] == result.runs
    table = format_sweep(SweepFolder.open(result.path))
    failing = next(line for line in table.splitlines() if line.startswith("explode_at=3 "))
    assert failing.split()[1:3] == ["0/2", "-"] and "0:failed" in failing
    assert "failed runs:" in table and "ValueError: boom" in table


@pytest.mark.slow
def test_interrupt_then_resume(tmp_path: Path) -> None:
    config = small_config(generations=40, **{"checkpoint.every": 1})
    path = write_config(tmp_path / "c.yaml", config)
    runs = tmp_path / "runs"
    command = ["sweep", str(path), "--seeds", "0-2"]
    process = start_cli(*command, "--runs-dir", str(runs), "--parallel", "2")
    try:
        deadline = time.monotonic() + 120
        while not list(runs.glob("*/*/checkpoints/*.json")):
            assert time.monotonic() < deadline and process.poll() is None, "no checkpoint yet"
            time.sleep(0.05)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2  # the worker processes (and their nannies)
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert err.strip().splitlines() == ["evo: interrupted (SIGINT)"], err
        _gone, alive = psutil.wait_procs(children, timeout=20)
        assert alive == [], f"orphaned processes: {alive}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    (sweep_dir,) = runs.iterdir()
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["status"] == "interrupted"
    statuses = [entry["status"] for entry in record["runs"]]
    assert statuses == ["interrupted", "interrupted", "pending"]
    started = [
        sweep_dir / e["folder"] for e in record["runs"] if (sweep_dir / e["folder"]).exists()
    ]
    assert started  # the run whose generation we saw, at least
    for folder in started:
        last = json.loads((folder / "events.jsonl").read_text().splitlines()[-1])
        assert (last["event"], last["reason"]) == ("stop", "interrupted")

    checkpointed = [f.name for f in started if list((f / "checkpoints").glob("*.json"))]
    assert checkpointed
    resumed = run_cli("sweep", "--resume", str(sweep_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(sweep_dir)
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["status"] == "finished"
    assert [entry["status"] for entry in record["runs"]] == ["finished"] * 3
    for folder in started:  # continued from a checkpoint, or (none yet) started afresh
        events = [json.loads(line)["event"] for line in (folder / "events.jsonl").open()]
        assert ("resume" in events) == (folder.name in checkpointed)
        assert (folder.name in checkpointed) != (sweep_dir / f"{folder.name}.incomplete").is_dir()
    first = sweep_dir / "seed=0"
    alone = run(
        from_dict(small_config(generations=40, seed=0, backend={"kind": "serial"})), tmp_path
    )
    assert fitness_columns(first) == fitness_columns(alone.path)  # every generation once


def test_resume_finishes_what_an_interrupt_left(tmp_path: Path) -> None:
    """In process and serial, what Ctrl-C leaves (``test_interrupt_then_resume``, -m slow):
    a run stopped after a checkpoint continues from it, one stopped before its first starts
    afresh (its folder kept as ``.incomplete``), one never started starts; all give the
    numbers of the uninterrupted sweep."""
    from evo.reporting import SweepReporter

    config = tiny_config(generations=4, checkpoint={"every": 2, "keep": 5})
    path = write_config(tmp_path / "c.yaml", config)
    quiet = SweepReporter(quiet=True)
    sweep_dir = run_sweep(path, [0, 1, 2, 3], runs_dir=tmp_path / "runs", reporter=quiet).path
    folder = SweepFolder.open(sweep_dir)
    reference = {e["folder"]: fitness_columns(folder.run_path(e)) for e in folder.runs()}
    for name, kept in (("seed=1", ["gen-000002"]), ("seed=2", [])):
        run_dir = sweep_dir / name
        (run_dir / "summary.json").unlink()
        (run_dir / "best.npz").unlink()
        for checkpoint in (run_dir / "checkpoints").iterdir():
            if checkpoint.name.split(".")[0] not in kept:
                checkpoint.unlink()
        folder.update(name, status="interrupted")
    shutil.rmtree(sweep_dir / "seed=3")
    folder.update("seed=3", status="pending")
    folder.update(status="interrupted")

    result = resume_sweep(sweep_dir, reporter=quiet)
    assert [entry["status"] for entry in result.runs] == ["finished"] * 4
    assert SweepFolder.open(sweep_dir).record["status"] == "finished"
    for name, columns in reference.items():
        assert fitness_columns(sweep_dir / name) == columns, name
    resumed = {
        name: "resume" in (sweep_dir / name / "events.jsonl").read_text() for name in reference
    }
    assert resumed == {"seed=0": False, "seed=1": True, "seed=2": False, "seed=3": False}
    assert [p.name for p in sweep_dir.glob("*.incomplete")] == ["seed=2.incomplete"]


def test_backends_sharing_a_client_each_get_the_cluster_events() -> None:
    """Dask keeps one handler per event topic and client: every backend on a shared client
    must still hear of workers joining, also after another one has closed."""
    from distributed import Client, LocalCluster

    from evo.backends.dask import DaskBackend
    from evo.problems import make_problem

    config = from_dict(small_config())
    problem = make_problem(config)
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        first = DaskBackend(problem, config.backend, client=client)
        second = DaskBackend(problem, config.backend, client=client)

        def joined(backend: DaskBackend, workers: int) -> list[dict[str, Any]]:
            time.sleep(0.5)  # a subscription reaches the scheduler asynchronously
            cluster.scale(workers)
            client.wait_for_workers(workers)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                events = backend._log.take()
                if events:
                    return events
                time.sleep(0.05)
            return []

        events = joined(first, 2)
        assert [e["event"] for e in events] == ["worker_joined"]
        assert second._log.take() == events
        first.close()
        assert [e["event"] for e in joined(second, 3)] == ["worker_joined"]
        assert first._log.take() == []
        second.close()
        third = DaskBackend(problem, config.backend, client=client)  # subscribes again
        assert [e["event"] for e in joined(third, 4)] == ["worker_joined"]
        third.close()


def test_a_terminal_gets_a_sweep_progress_display(tmp_path: Path) -> None:
    import io

    from evo.reporting import SweepReporter

    stream = io.StringIO()
    path = write_config(tmp_path / "c.yaml", tiny_config(generations=2))
    reporter = SweepReporter(stream, live=True, force_terminal=True)
    result = run_sweep(path, [0, 1], runs_dir=tmp_path / "runs", reporter=reporter)
    out = stream.getvalue()
    assert "sweep: 2/2 runs" in out and "4/4" in out  # runs, and generations in all
    assert "[1/2] seed=0: final" in out and "[2/2] seed=1: final" in out
    again = io.StringIO()
    assert resume_sweep(result.path, reporter=SweepReporter(again)).runs == result.runs
    assert "every run has finished" in again.getvalue()
