"""What a user expects of a command line: --print-config and --dry-run write nothing,
`evo inspect` never prints Python's None, and a run folder says its format and where it ran."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest
import yaml

from evo.config import dump_yaml, load_config
from evo.session import FORMAT
from tests.conftest import REPO, run_cli, tiny_config, write_config


@pytest.mark.parametrize("flag", ["--print-config", "--dry-run"])
def test_print_config_and_dry_run_print_the_resolved_config_and_write_nothing(
    flag: str, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    done = run_cli("run", str(path), flag, "--set", "algorithm.sigma=0.25", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = load_config(path, ["algorithm.sigma=0.25"])
    assert done.stdout == dump_yaml(expected)
    assert load_config(yaml.safe_load(done.stdout)) == expected
    if flag == "--dry-run":
        assert done.stderr.startswith("dry run: tiny is valid: openai_es, 3 generations, on Dask")
    else:
        assert done.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # no runs/, no cluster files


def test_dry_run_checks_what_a_run_checks_before_its_folder(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tiny_config(env={"id": "CartPole-v9"}))
    printed = run_cli("run", str(path), "--print-config", cwd=tmp_path)
    assert printed.returncode == 0  # the schema alone takes any env id
    dry = run_cli("run", str(path), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 2 and dry.stdout == ""
    assert dry.stderr.startswith("evo: error: env.id: expected a registered gymnasium env id")
    assert len(dry.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny serial run, through the command line."""
    tmp = tmp_path_factory.mktemp("run")
    path = write_config(tmp / "c.yaml", tiny_config())
    done = run_cli("run", str(path), "--runs-dir", str(tmp / "runs"), "--quiet", cwd=tmp)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def test_the_run_folder_says_its_format_and_where_it_ran(finished: Path) -> None:
    header = [
        line for line in (finished / "config.yaml").read_text().splitlines() if line[:1] == "#"
    ]
    assert f"# format {FORMAT}" in header
    machine = header[2]
    assert machine.startswith(f"# host {platform.node()}, cpu ")
    assert f", cores {os.cpu_count()}" in machine
    if (REPO / ".git").exists():  # run from this checkout
        assert ", git commit " in machine
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["format"] == FORMAT
    start = json.loads((finished / "events.jsonl").read_text().splitlines()[0])
    assert start["host"]["cores"] == os.cpu_count() and start["host"]["cpu"]


def test_inspect_never_prints_none(finished: Path, tmp_path: Path) -> None:
    # Every value a reader may meet as JSON null: in the summary, the metrics, the events.
    run = tmp_path / "run"
    run.mkdir()
    for item in finished.iterdir():
        target = run / item.name
        if item.is_dir():
            target.mkdir()
            for inner in item.iterdir():
                (target / inner.name).write_bytes(inner.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    summary = json.loads((run / "summary.json").read_text())
    summary.update(final_eval_std=None, solve_threshold=None, stop_reason=None)
    (run / "summary.json").write_text(json.dumps(summary))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.update(solution_fitness=None, fitness_std=None, workers=None)
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with open(run / "events.jsonl", "a") as events:
        events.write(json.dumps({"time": 1.0, "event": "stop", "reason": None, "x": [None]}) + "\n")
    views = [(), ("--events",), ("--lineage",), ("--generation", "1")]
    for view in views:
        done = run_cli("inspect", str(run), *view)
        assert done.returncode == 0, done.stderr
        assert "None" not in done.stdout, (view, done.stdout)
    (run / "summary.json").unlink()  # an unfinished run
    done = run_cli("inspect", str(run))
    assert done.returncode == 0 and "None" not in done.stdout, done.stdout
