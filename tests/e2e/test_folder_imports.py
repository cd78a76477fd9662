"""Opening a run folder never runs code from it or from the working directory: readers
import nothing the config names; the commands that must build the env (resume, replay,
export --member) import installed packages only, say what they import, and take
``--import-path DIR`` for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config

MODULE = """
import os, pathlib
pathlib.Path(os.environ["EVO_TEST_MARKER"]).write_text("imported")
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A working directory holding ``plantedmod.py`` (it leaves a marker when imported) and
    a stopped run whose config names it: (cwd, run folder, marker)."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "plantedmod.py").write_text(MODULE)
    marker = tmp_path / "marker"
    monkeypatch.setenv("EVO_TEST_MARKER", str(marker))
    config = tiny_config(**{"env.id": "plantedmod:CartPole-v1", "generations": 3})
    write_config(cwd / "run.yaml", config)
    made = run_cli("run", "run.yaml", "--runs-dir", "runs", "--quiet", cwd=cwd)
    assert made.returncode == 0, made.stderr
    assert marker.exists()  # a user's own config may import from the working directory
    marker.unlink()
    run_dir = cwd / made.stdout.strip().splitlines()[-1]
    (run_dir / "summary.json").unlink()  # as if stopped: resumable
    return cwd, run_dir, marker


def test_readers_import_nothing(planted: tuple[Path, Path, Path]) -> None:
    cwd, run_dir, marker = planted
    for args in (
        ["inspect", str(run_dir)],
        ["inspect", str(run_dir), "--generation", "1"],
        ["plot", str(run_dir), "-o", "fitness.png"],
        ["compare", str(run_dir), "-o", "compare.png"],
        ["export", str(run_dir), "--csv", "metrics.csv", "--lineage-csv", "lineage.csv"],
    ):
        result = run_cli(*args, cwd=cwd)
        assert result.returncode == 0, (args, result.stderr)
        assert not marker.exists(), f"evo {' '.join(args)} imported the planted module"


def test_builders_import_installed_packages_only(planted: tuple[Path, Path, Path]) -> None:
    cwd, run_dir, marker = planted
    before = (run_dir / "events.jsonl").read_bytes()
    for args in (
        ["resume", str(run_dir)],
        ["replay", str(run_dir), "--out", "replay.gif"],
        ["export", str(run_dir), "--member", "1:0", "-o", "member.npz"],
    ):
        result = run_cli(*args, cwd=cwd)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().splitlines() == [
            "evo: error: env.id: module 'plantedmod' is not an installed package; a run "
            "folder's config imports from the working directory or a path only with "
            "--import-path DIR"
        ]
        assert not marker.exists(), f"evo {' '.join(args)} imported the planted module"
    assert (run_dir / "events.jsonl").read_bytes() == before  # nothing written


def test_import_path_allows_it_and_says_so(planted: tuple[Path, Path, Path]) -> None:
    cwd, run_dir, marker = planted
    result = run_cli("resume", str(run_dir), "--import-path", ".", "--quiet", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"evo: env.id: imports plantedmod from {cwd / 'plantedmod.py'}" in result.stderr
    assert marker.exists()
