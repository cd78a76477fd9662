"""`evo sweep`: seeds x grid settings in one folder on one cluster; `evo inspect` and
`evo plot` of a sweep; failures, Ctrl-C and `--resume`."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from evo.analysis.inspect import format_sweep, sweep_rows
from evo.analysis.plot import DPI, FIGURE_SIZE
from evo.config import from_dict, load_config
from evo.errors import ConfigError
from evo.loop import run
from evo.sweep import SweepFolder, parse_grid, parse_seeds, resume_sweep, run_sweep
from tests.conftest import FITNESS_COLUMNS, run_cli, tiny_config, write_config


def small_config(**overrides: Any) -> dict[str, Any]:
    """CartPole, population 8, 3 generations, on an embedded cluster of 2 workers."""
    config = tiny_config(
        **{"algorithm.population_size": 8, "final_eval.episodes": 2, "backend.workers": 2}
    )
    config["backend"]["kind"] = "dask"
    for key, value in overrides.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def fitness_columns(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{key: row[key] for key in FITNESS_COLUMNS} for row in rows]


def test_seeds_and_grids_are_parsed() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,7") == [0, 2, 7]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-1,9") == [0, 1, 9]
    for bad in ("4-2", "a", "-1", "1,1", "", "1-"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    grid = parse_grid(["algorithm.sigma=0.02,0.05", "policy.hidden_sizes=[8],[16, 16]"])
    assert grid == {"algorithm.sigma": [0.02, 0.05], "policy.hidden_sizes": [[8], [16, 16]]}
    assert parse_grid(["policy.activation=tanh,relu"]) == {"policy.activation": ["tanh", "relu"]}
    for bad in ("sigma", "=1,2", "seed=1,2", "backend.workers=1,2", "a.b=1,1", "a.b=[1"):
        with pytest.raises(ConfigError, match="--grid"):
            parse_grid([bad])
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["a.b=1", "a.b=2"])


def test_bad_input_stops_before_anything_is_written(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", small_config())
    runs = tmp_path / "runs"
    bad_key = run_cli(
        "sweep", str(config), "--grid", "algorithm.sigmaa=0.1,0.2", "--runs-dir", str(runs)
    )
    assert bad_key.returncode == 2, bad_key.stderr
    assert bad_key.stderr.count("\n") == 1 and "did you mean 'sigma'" in bad_key.stderr
    assert not runs.exists()
    # A value that is wrong for one setting only: still nothing is written.
    with pytest.raises(ConfigError, match=r"algorithm\.sigma"):
        run_sweep(config, [0], {"algorithm.sigma": [0.1, -1.0]}, runs_dir=runs)
    with pytest.raises(ConfigError, match="--set seed"):
        run_sweep(config, [0], overrides=["seed=3"], runs_dir=runs)
    with pytest.raises(ConfigError, match="--parallel"):
        run_sweep(config, [0], parallel=0, runs_dir=runs)
    assert not runs.exists()
    no_config = run_cli("sweep", "--seeds", "0-1")
    assert no_config.returncode == 2 and no_config.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """2 settings x 2 seeds through the real command line, on one 2-worker cluster."""
    tmp = tmp_path_factory.mktemp("sweep")
    config = write_config(tmp / "small.yaml", small_config())
    result = run_cli(
        "sweep",
        str(config),
        "--seeds",
        "0-1",
        "--grid",
        "algorithm.sigma=0.05,0.1",
        "--set",
        "generations=3",
        "--runs-dir",
        str(tmp / "runs"),
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), result


def test_sweep_folder_holds_every_run(sweep) -> None:
    path, result = sweep
    assert path.name.startswith("tiny-sweep-")
    names = ["sigma=0.05-seed=0", "sigma=0.05-seed=1", "sigma=0.1-seed=0", "sigma=0.1-seed=1"]
    assert sorted(p.name for p in path.iterdir()) == sorted([*names, "base.yaml", "sweep.json"])
    record = json.loads((path / "sweep.json").read_text())
    assert record["grid"] == {"algorithm.sigma": [0.05, 0.1]} and record["seeds"] == [0, 1]
    assert record["status"] == "finished" and record["parallel"] == 2
    assert [entry["folder"] for entry in record["runs"]] == names
    for entry in record["runs"]:
        assert entry["status"] == "finished" and entry["error"] is None
        config = load_config(path / entry["folder"] / "config.yaml")
        assert config.seed == entry["seed"] and config.generations == 3
        assert config.algorithm.sigma == entry["values"]["algorithm.sigma"]
        assert (path / entry["folder"] / "summary.json").is_file()
    # Several experiments at once on the one cluster.
    spans = sorted((entry["started"], entry["ended"]) for entry in record["runs"])
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    lines = result.stdout.splitlines()
    assert "embedded LocalCluster" in lines[0]
    ended = [line for line in lines if line.startswith("[")]
    assert sorted(line.split()[1].rstrip(":") for line in ended) == names
    assert result.stderr == ""


def test_a_run_of_a_sweep_equals_the_same_run_alone(sweep, tmp_path: Path) -> None:
    path, _ = sweep
    member = path / "sigma=0.1-seed=1"
    config = load_config(member / "config.yaml")
    alone = dataclasses.replace(config, backend=dataclasses.replace(config.backend, kind="serial"))
    result = run(alone, tmp_path)
    assert fitness_columns(result.path) == fitness_columns(member)
    assert fitness_columns(member) != fitness_columns(path / "sigma=0.1-seed=0")


def test_inspect_a_sweep(sweep) -> None:
    path, _ = sweep
    result = run_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("setting"))
    columns = ["setting", "runs", "final", "iqr", "solved", "time_s", "per", "seed"]
    assert lines[header].split() == columns
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[0] for row in rows] == ["sigma=0.05", "sigma=0.1"]
    summaries = {
        p.name: json.loads((p / "summary.json").read_text()) for p in path.iterdir() if p.is_dir()
    }
    for row in rows:
        assert row[1] == "2/2"
        scores = [summaries[f"{row[0]}-seed={seed}"]["final_eval_mean"] for seed in (0, 1)]
        assert float(row[2]) == pytest.approx(sum(scores) / 2, abs=0.005)  # median of two
        assert float(row[3]) == pytest.approx(abs(scores[1] - scores[0]) / 2, abs=0.005)
        assert row[6:] == [f"{seed}:{score:.2f}" for seed, score in enumerate(scores)]
    as_json = json.loads(run_cli("inspect", str(path), "--json").stdout)
    assert [row["setting"] for row in as_json] == ["sigma=0.05", "sigma=0.1"]
    assert as_json == json.loads(json.dumps(sweep_rows(SweepFolder.open(path))))
    events = run_cli("inspect", str(path), "--events")
    assert events.returncode == 2 and events.stderr.count("\n") == 1


def test_plot_a_sweep(sweep, tmp_path: Path) -> None:
    path, _ = sweep
    for x in ("generation", "time", "evals"):
        out = tmp_path / f"sweep-{x}.png"
        result = run_cli("plot", str(path), "-o", str(out), "--x", x)
        assert result.returncode == 0, result.stderr
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        with Image.open(out) as image:
            assert image.size == (FIGURE_SIZE[0] * DPI, FIGURE_SIZE[1] * DPI)
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # curves and bands, not a blank page
    mixed = run_cli("plot", str(path), str(path / "sigma=0.1-seed=0"), "-o", str(out))
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1


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


def test_interrupt_then_resume(tmp_path: Path) -> None:
    config = small_config(generations=40, **{"checkpoint.every": 1})
    path = write_config(tmp_path / "c.yaml", config)
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "evo", "sweep", str(path), "--seeds", "0-2"]
    process = subprocess.Popen(
        [*command, "--runs-dir", str(runs), "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
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
        assert err.strip().splitlines() == ["evo: interrupted"], err
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


def test_backends_sharing_a_client_each_get_the_cluster_events() -> None:
    """Dask keeps one handler per event topic and client: every backend on a shared client
    must still hear of workers joining, also after another one has closed."""
    from distributed import Client, LocalCluster

    from evo.backends.dask import DaskBackend
    from evo.evaluation import Problem

    config = from_dict(small_config())
    problem = Problem.from_config(config)
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
                events = backend._take_cluster_events()
                if events:
                    return events
                time.sleep(0.05)
            return []

        events = joined(first, 2)
        assert [e["event"] for e in events] == ["worker_joined"]
        assert second._take_cluster_events() == events
        first.close()
        assert [e["event"] for e in joined(second, 3)] == ["worker_joined"]
        assert first._take_cluster_events() == []
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
