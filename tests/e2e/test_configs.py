"""The shipped experiment configs: all valid, and the ones that should solve do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evo import experiment
from evo.config import load_config
from evo.reporting import Reporter
from tests.conftest import REPO, run_cli

CONFIGS = sorted((REPO / "evo" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem


def _solve(name: str, tmp_path: Path, *overrides: str) -> dict:
    args = [f"--set={o}" for o in overrides]
    result = run_cli(
        "run",
        str(REPO / "evo" / "configs" / f"{name}.yaml"),
        "--runs-dir",
        str(tmp_path),
        *args,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((Path(result.stdout.splitlines()[-1]) / "summary.json").read_text())
    assert summary["final_eval_episodes"] == 100
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cartpole-es", "cartpole-ga", "cartpole-cma", "cartpole-pgpe"])
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


@pytest.mark.slow
def test_racetrack_ga_config_solves(tmp_path: Path) -> None:
    """>= 900 over the 100 held-out tracks (the race track's solved bar)."""
    summary = _solve("racetrack-ga", tmp_path)
    assert summary["solved"] and summary["final_eval_mean"] >= 900


@pytest.mark.slow
def test_racetrack_es_config_solves(tmp_path: Path) -> None:
    summary = _solve("racetrack-es", tmp_path)
    assert summary["solved"] and summary["final_eval_mean"] >= 900


@pytest.mark.slow
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
        str(REPO / "evo" / "configs" / f"{name}.yaml"),
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


# A few seconds of each config the solve tests above take to their bars, serial, in process.
# Two checks: the mean fitness of the last generation (population, or training episodes and
# minibatch) gains at least `gain` over the first, and the held-out score reaches `bar`. The
# comments give what the short run reaches, then what it reaches with a learning rate of 1e-9
# (for the GAs: after one generation, the best random member): the runs are deterministic, so
# the room between them is for changes of the code, not for noise. The untrained CartPole
# policy already balances 150.7 steps greedily: policy gradient is judged on its gain alone.
SHORT_RUNS = [
    # name, overrides, gain, bar  # reached: gain score | untrained: gain score
    ("cartpole-es", ["generations=10", "final_eval.episodes=10"], 80, 275),  # +203 500 | +0 151
    ("cartpole-ga", ["generations=4", "final_eval.episodes=10"], 60, 350),  # +81 443 | 221
    ("cartpole-cma", ["generations=12", "final_eval.episodes=10"], 60, 275),  # +124 500 | -1 55
    ("cartpole-pgpe", ["generations=25", "final_eval.episodes=10"], 150, 400),  # +320 500 | -3 151
    ("cartpole-pg", ["generations=20", "final_eval.episodes=10"], 35, None),  # +78 | +7
    ("cartpole-ppo", ["generations=10", "final_eval.episodes=10"], 80, 300),  # +107 321 | +7 151
    ("racetrack-ga", ["generations=2", "final_eval.episodes=10"], 40, 110),  # +64 283 | 61
    ("digits-sgd", ["gradient.epochs=1"], 0.5, 0.5),  # +1.12 0.77 | +0.01 0.08
    ("spiral-sgd", ["gradient.epochs=1"], 0.4, 0.6),  # +0.79 0.84 | +0.00 0.18
    ("digits-es", ["generations=12", "data.eval_every=12"], 0.07, 0.3),  # +0.13 0.34 | +0.01 0.08
]


@pytest.mark.parametrize(
    ("name", "overrides", "gain", "bar"), SHORT_RUNS, ids=[run[0] for run in SHORT_RUNS]
)
def test_configs_learn_in_a_short_run(
    name: str, overrides: list[str], gain: float, bar: float | None, tmp_path: Path
) -> None:
    """The configs that solve, cut to a few seconds: they learn, far from where they began."""
    config = load_config(
        REPO / "evo" / "configs" / f"{name}.yaml", ["backend.kind=serial", *overrides]
    )
    result = experiment.run(config, tmp_path, reporter=Reporter(quiet=True))
    lines = (result.path / "metrics.jsonl").read_text().splitlines()
    first, last = (json.loads(lines[i])["fitness_mean"] for i in (0, -1))
    assert last - first >= gain, f"{name}: mean fitness {first} -> {last}, a gain under {gain}"
    score = result.summary["final_eval_mean"]
    assert bar is None or score >= bar, f"{name}: held-out score {score} < {bar}"
    if config.data is not None:
        assert result.summary["test_accuracy"] == score
