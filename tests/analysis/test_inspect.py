"""`evo inspect` of a real run: the summary and the table, its events, and null shown as "-"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GA run of 5 generations (in-process), through the CLI."""
    tmp = tmp_path_factory.mktemp("inspect")
    config = tiny_config(
        generations=5,
        algorithm={"name": "ga", "population_size": 12, "truncation": 4, "elites": 1},
    )
    path = write_config(tmp / "tiny.yaml", config)
    result = run_cli("run", str(path), "--runs-dir", str(tmp / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def test_inspect(finished_run: Path) -> None:
    run_dir = finished_run
    result = run_cli("inspect", str(run_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("final_eval_mean:") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["gen", "evals"])
    assert [line.split()[0] for line in lines[header + 1 :]] == ["1", "2", "3", "4", "5"]
    # A value the summary leaves null (no benchmark function, no data set) shows as "-".
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["function"] is None and "function: -" in lines
    for view in ([], ["--events"], ["--generation", "1"], ["--lineage"]):
        shown = run_cli("inspect", str(run_dir), *view)
        assert shown.returncode == 0 and "None" not in shown.stdout, (view, shown.stdout)

    as_json = run_cli("inspect", str(run_dir), "--json")
    assert json.loads(as_json.stdout) == json.loads((run_dir / "summary.json").read_text())

    missing = run_cli("inspect", str(run_dir / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_inspect_events_lists_what_happened(two_runs: list[Path]) -> None:
    result = run_cli("inspect", str(two_runs[0]), "--events")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    logged = [json.loads(line)["event"] for line in (two_runs[0] / "events.jsonl").open()]
    assert [line.split()[1] for line in lines[1:]] == logged
    initial, checkpoint, *_ = (line for line in lines if " checkpoint " in line)
    assert initial.split()[2] == "0" and "gen-000000" in initial  # the initial state
    assert checkpoint.split()[2] == "2" and "gen-000002" in checkpoint  # after 2 generations
