"""The shipped experiment configs: all valid, and the ones that should solve do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evo.config import load_config
from tests.conftest import REPO, run_cli

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem


def _solve(name: str, tmp_path: Path, *overrides: str) -> dict:
    args = [f"--set={o}" for o in overrides]
    result = run_cli(
        "run",
        str(REPO / "configs" / f"{name}.yaml"),
        "--runs-dir",
        str(tmp_path),
        *args,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.splitlines()[-1]) / "summary.json").read_text())
    assert summary["final_eval_episodes"] == 100
    return summary


@pytest.mark.parametrize("name", ["cartpole-es", "cartpole-ga"])
def test_cartpole_configs_solve(name: str, tmp_path: Path) -> None:
    """The README's main command: >= 475 over 100 fresh episodes on the embedded cluster."""
    summary = _solve(name, tmp_path)
    assert summary["solved"] and summary["final_eval_mean"] >= 475


@pytest.mark.slow
def test_lunarlander_config_solves(tmp_path: Path) -> None:
    summary = _solve("lunarlander-es", tmp_path)
    assert summary["final_eval_mean"] >= 200


@pytest.mark.slow
def test_pendulum_config_reaches_its_threshold(tmp_path: Path) -> None:
    summary = _solve("pendulum-es", tmp_path)
    assert summary["final_eval_mean"] >= -200


def test_racetrack_ga_config_solves(tmp_path: Path) -> None:
    """>= 900 over the 100 held-out tracks (the race track's solved bar)."""
    summary = _solve("racetrack-ga", tmp_path)
    assert summary["solved"] and summary["final_eval_mean"] >= 900


@pytest.mark.slow
def test_racetrack_es_config_solves(tmp_path: Path) -> None:
    summary = _solve("racetrack-es", tmp_path)
    assert summary["solved"] and summary["final_eval_mean"] >= 900


@pytest.mark.parametrize(
    ("name", "bar"),
    [
        ("cartpole-pg", 475),
        ("cartpole-ppo", 475),
        ("digits-sgd", 0.96),
        ("spiral-sgd", 0.85),
        ("digits-es", 0.94),
    ],
)
def test_configs_reach_their_bars_in_process(name: str, bar: float, tmp_path: Path) -> None:
    """In process (the same numbers as on any cluster: see test_gradient_mode.py)."""
    result = run_cli(
        "run",
        str(REPO / "configs" / f"{name}.yaml"),
        "--runs-dir",
        str(tmp_path),
        "--set",
        "backend.kind=serial",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.splitlines()[-1]) / "summary.json").read_text())
    assert summary["solved"] and summary["final_eval_mean"] >= bar
    if name.startswith(("digits", "spiral")):
        assert summary["test_accuracy"] == summary["final_eval_mean"]
