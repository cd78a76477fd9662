"""`evo plot`, `evo inspect --events` and `evo export` on real run folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short in-process runs (different seeds) in one runs folder."""
    folder = tmp_path_factory.mktemp("plots")
    runs = []
    for seed in (1, 2):
        path = write_config(folder / f"c{seed}.yaml", tiny_config(seed=seed, generations=4))
        result = run_cli("run", str(path), "--runs-dir", str(folder / f"runs{seed}"), "--quiet")
        assert result.returncode == 0, result.stderr
        runs.append(Path(result.stdout.strip()))
    return runs


@pytest.mark.parametrize("x", ["generation", "time", "evals"])
def test_plot_writes_a_png_of_several_runs(two_runs: list[Path], tmp_path: Path, x: str) -> None:
    out = tmp_path / f"fig-{x}.png"
    result = run_cli("plot", *map(str, two_runs), "-o", str(out), "--x", x)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width >= 800 and image.height >= 500
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # curves and bands, not a blank page


def test_plot_bad_input_is_one_line(two_runs: list[Path], tmp_path: Path) -> None:
    missing = run_cli("plot", str(tmp_path / "nope"), "-o", str(tmp_path / "f.png"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    nowhere = run_cli("plot", str(two_runs[0]), "-o", str(tmp_path / "no" / "f.png"))
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr
    assert nowhere.stderr.count("\n") == 1
    bad_axis = run_cli("plot", str(two_runs[0]), "-o", str(tmp_path / "f.png"), "--x", "steps")
    assert bad_axis.returncode == 2 and "--x" in bad_axis.stderr


def test_inspect_events_lists_what_happened(two_runs: list[Path]) -> None:
    result = run_cli("inspect", str(two_runs[0]), "--events")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    logged = [json.loads(line)["event"] for line in (two_runs[0] / "events.jsonl").open()]
    assert [line.split()[1] for line in lines[1:]] == logged
    checkpoint = next(line for line in lines if " checkpoint " in line)
    assert checkpoint.split()[2] == "2" and "gen-000002" in checkpoint  # after 2 generations


def test_export_writes_the_metrics_as_csv(two_runs: list[Path], tmp_path: Path) -> None:
    out, events = tmp_path / "metrics.csv", tmp_path / "events.csv"
    result = run_cli("export", str(two_runs[0]), "--csv", str(out), "--events-csv", str(events))
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (two_runs[0] / "metrics.jsonl").open()]
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(metrics)
    for row, record in zip(rows, metrics, strict=True):
        assert int(row["generation"]) == record["generation"]
        assert float(row["fitness_max"]) == record["fitness_max"]  # no precision lost
        assert row.keys() >= record.keys()
    with events.open(newline="") as handle:
        assert next(r["event"] for r in csv.DictReader(handle)) == "start"
    nowhere = run_cli("export", str(two_runs[0]), "--csv", str(tmp_path / "no" / "m.csv"))
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1
