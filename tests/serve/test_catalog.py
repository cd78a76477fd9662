"""What the page shows of run and sweep folders, read without a browser: statuses, the
listing, curves, the histogram, the dashboard link, keys that stay inside the folder."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest

from evo.runlog import RunRecord
from evo.serve.catalog import entries, kind_of, sweep_table
from evo.serve.page import resolve
from evo.serve.runs import RecordCache, dashboard_link, histogram, run_status, series
from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short finished run."""
    folder = tmp_path_factory.mktemp("catalog")
    config = write_config(folder / "c.yaml", tiny_config(generations=4))
    result = run_cli("run", str(config), "--runs-dir", str(folder / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def _copy(run: Path, to: Path, events: list[dict] | None = None, summary: bool = False) -> Path:
    """A copy of ``run`` without its summary (a run still going), with ``events`` appended."""
    shutil.copytree(run, to)
    if not summary:
        (to / "summary.json").unlink(missing_ok=True)
    with open(to / "events.jsonl", "a") as handle:
        for event in events or []:
            handle.write(json.dumps(event) + "\n")
    return to


def test_statuses_follow_the_newest_session(finished: Path, tmp_path: Path) -> None:
    assert run_status(RunRecord.read(finished)) == "finished"
    going = _copy(finished, tmp_path / "going")
    assert run_status(RunRecord.read(going)) == "running"
    later = time.time() + 3600  # an hour without a line: killed, or stalled
    assert run_status(RunRecord.read(going), now=later) == "unfinished"
    stopped = _copy(finished, tmp_path / "stopped", [{"event": "stop", "reason": "interrupted"}])
    assert run_status(RunRecord.read(stopped)) == "interrupted"
    resumed = _copy(stopped, tmp_path / "resumed", [{"event": "resume", "generation": 4}])
    assert run_status(RunRecord.read(resumed)) == "running"
    failed = _copy(finished, tmp_path / "failed", [{"event": "stop", "reason": "error"}])
    assert run_status(RunRecord.read(failed)) == "failed"


def test_curves_count_generations_from_1_and_rates_per_generation(finished: Path) -> None:
    record = RunRecord.read(finished)
    columns = series(record.metrics)
    assert columns["generation"] == [1.0, 2.0, 3.0, 4.0]
    assert columns["fitness_max"] == [line["fitness_max"] for line in record.metrics]
    first, second = record.metrics[0], record.metrics[1]
    assert columns["evaluations_per_s"][0] == first["evaluations"] / first["time_s"]
    added = second["evaluations"] - first["evaluations"]
    assert columns["evaluations_per_s"][1] == added / (second["time_s"] - first["time_s"])
    low, high = columns["std_low"][0], columns["std_high"][0]
    assert math.isclose((low + high) / 2, first["fitness_mean"])


def test_the_histogram_bins_every_member_of_the_newest_generation(finished: Path) -> None:
    record = RunRecord.read(finished)
    found = histogram(record)
    members = record.folder.read_lineage(4)["fitness"]
    assert found is not None and found.generation == 4 and found.members == len(members)
    assert sum(found.counts) == len(members) - found.failed
    assert found.left[0] == pytest.approx(float(members.min()))
    assert found.right[-1] == pytest.approx(float(members.max()))


def test_the_dashboard_link_is_the_newest_sessions(finished: Path, tmp_path: Path) -> None:
    assert dashboard_link(RunRecord.read(finished)) is None  # a serial run has none
    backend = "dask backend: scheduler at tcp://h:1, 2 workers, dashboard http://h:8787/status"
    run = _copy(finished, tmp_path / "r", [{"event": "resume", "backend": backend}])
    assert dashboard_link(RunRecord.read(run)) == "http://h:8787/status"


def test_the_listing_finds_runs_and_sweeps(finished: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _copy(finished, root / "old", summary=True)
    os.utime(root / "old" / "metrics.jsonl", (1, 1))
    os.utime(root / "old" / "events.jsonl", (1, 1))
    _copy(finished, root / "deeper" / "going")
    (root / "empty").mkdir()
    sweep = root / "a-sweep"
    sweep.mkdir()
    _copy(finished, sweep / "s=1-seed=0", summary=True)
    runs = [{"folder": "s=1-seed=0", "setting": "s=1", "seed": 0, "status": "finished"}]
    runs.append({"folder": "s=1-seed=1", "setting": "s=1", "seed": 1, "status": "pending"})
    (sweep / "sweep.json").write_text(json.dumps({"name": "x", "status": "running", "runs": runs}))
    found = entries(root, RecordCache())
    assert [entry.key for entry in found] == ["a-sweep", "deeper/going", "old"]
    assert [entry.status for entry in found] == ["running", "running", "finished"]
    assert [run.key for run in found[0].runs] == ["a-sweep/s=1-seed=0", "a-sweep/s=1-seed=1"]
    assert [run.status for run in found[0].runs] == ["finished", "pending"]
    assert found[1].generations == 4 and found[1].planned == 4
    table = sweep_table(sweep, "a-sweep", RecordCache())
    score = json.loads((finished / "summary.json").read_text())["final_eval_mean"]
    assert table.rows == [
        {"setting": "s=1", "0": f"{score:.2f}", "1": "pending", "finished": "1/2"}
        | {"median": f"{score:.2f}"}
    ]
    assert table.links == {"s=1": {"0": "a-sweep/s=1-seed=0", "1": "a-sweep/s=1-seed=1"}}
    assert kind_of(sweep) == "sweep" and kind_of(root / "old") == "run"
    assert kind_of(root / "empty") is None


def test_keys_never_leave_the_folder(finished: Path) -> None:
    root = finished.parent
    assert resolve(root, finished.name) == (finished.resolve(), finished.name)
    assert resolve(root, f"../{root.name}/{finished.name}") is not None  # still inside
    assert resolve(finished, "..") is None
    assert resolve(root, "/etc") is None
    assert resolve(root, "no-such-run") is None
