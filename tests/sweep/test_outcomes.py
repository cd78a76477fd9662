"""How the runs of a sweep ended, as `evo inspect` and `evo plot` of the sweep show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evo.analysis.inspect import sweep_rows
from evo.analysis.plot import DPI, FIGURE_SIZE
from evo.sweep import SweepFolder
from tests.conftest import run_cli


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
