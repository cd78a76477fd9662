"""``evo bench suite``: real runs read back into the table, a finished run not run again,
the generated section written between its markers, and bad options refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evo.bench.suite import Task, run_suite
from evo.bench.suite_report import (
    BEGIN,
    END,
    readme_table,
    suite_section,
    suite_table,
    write_section,
)

FAST = (
    "backend.kind=serial",
    "generations=6",
    "final_eval.episodes=5",
    "stop.confirm_episodes=5",
    "stop.target_fitness=20",  # below the task's 40: the suite raises it to the threshold
)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Task, dict, Path]:
    runs = tmp_path_factory.mktemp("suite")
    task = Task("CartPole-v1", "cartpole-es", 40.0, seeds=(0, 1), overrides=FAST)
    return task, run_suite([task], runs, report=lambda line: None), runs


def test_outcomes_are_what_the_run_folders_say(suite: tuple[Task, dict, Path]) -> None:
    task, outcomes, _ = suite
    for outcome in outcomes["cartpole-es"]:
        events = [json.loads(line) for line in (outcome.folder / "events.jsonl").open()]
        metrics = [json.loads(line) for line in (outcome.folder / "metrics.jsonl").open()]
        summary = json.loads((outcome.folder / "summary.json").read_text())
        passed = [e["generation"] for e in events if e["event"] == "confirm" and e["passed"]]
        assert passed, "a threshold of 40 on CartPole is confirmed within 6 generations"
        assert outcome.reached_generation == passed[0]
        row = next(m for m in metrics if m["generation"] == passed[0])
        confirming = sum(
            e["episodes"]
            for e in events
            if e["event"] == "confirm" and e["generation"] <= passed[0]
        )
        assert confirming > 0  # the confirmation episodes count too
        assert outcome.episodes == row["episodes"] + confirming
        assert outcome.env_steps == row["env_steps"]
        assert outcome.final_mean == summary["final_eval_mean"]
        assert outcome.solved == (summary["final_eval_mean"] >= task.threshold)
        assert outcome.wall_s > summary["training_time_s"]  # the whole process


def test_the_stop_target_is_the_configs_own_or_the_threshold_if_higher() -> None:
    from evo.bench.suite import _stop_target

    assert _stop_target(Task("CartPole-v1", "cartpole-es", 40.0, overrides=FAST), ()) == 40.0
    assert _stop_target(Task("CartPole-v1", "cartpole-es", 40.0), ()) == 500.0  # the config's
    assert _stop_target(Task("CartPole-v1", "cartpole-es", 600.0), ()) == 600.0


def test_the_table_holds_the_medians(suite: tuple[Task, dict, Path]) -> None:
    task, outcomes, _ = suite
    runs = outcomes["cartpole-es"]
    table = suite_table([task], outcomes)
    row = table.splitlines()[2].split(" | ")
    episodes = sorted(run.episodes for run in runs)
    assert row[4] == f"{sum(episodes) / 2:,.0f}"
    assert row[3] == f"{sum(run.solved for run in runs)}/2"
    assert row[7] == "; ".join(f"{r.final_mean:.1f} ± {r.final_std:.1f}" for r in runs)


def test_a_finished_run_is_read_not_run_again(suite: tuple[Task, dict, Path]) -> None:
    task, outcomes, runs = suite
    again = run_suite([task], runs, report=lambda line: None)["cartpole-es"]
    assert [o.folder for o in again] == [o.folder for o in outcomes["cartpole-es"]]
    assert [o.wall_s for o in again] == [o.wall_s for o in outcomes["cartpole-es"]]


def test_the_section_replaces_only_its_own_text(
    suite: tuple[Task, dict, Path], tmp_path: Path
) -> None:
    task, outcomes, _ = suite
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nwritten by hand\n")
    write_section(page, suite_section([task], outcomes, {}))
    write_section(page, suite_section([task], outcomes, {"cartpole-es": "fig/x.png"}))
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nwritten by hand\n")
    assert text.count(BEGIN) == text.count(END) == 1
    assert "![CartPole-v1" in text and "| CartPole-v1 | `cartpole-es` | 40 |" in text
    readme = tmp_path / "README.md"
    readme.write_text("# evo\n\n" + BEGIN + "\nold table\n" + END + "\n\n## Commands\n")
    write_section(readme, readme_table([task], outcomes))
    text = readme.read_text()
    assert "old table" not in text and text.endswith("\n\n## Commands\n")
    solved = sum(run.solved for run in outcomes["cartpole-es"])
    assert f"| `cartpole-es` | CartPole-v1 >= 40 | {solved}/2 seeds |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "nope"], "--tasks: unknown task 'nope'"),
        (["--seeds", "a"], "--seeds: expected comma-separated integers"),
        (["--out", "table.txt"], "--out: expected a Markdown file"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evo", "bench", "suite", "--runs-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert list(tmp_path.iterdir()) == []
