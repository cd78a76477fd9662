"""`evo resume`: an orchestrator killed mid-run continues from its last checkpoint, same numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from evo.runlog import load_npz
from tests.conftest import FITNESS_COLUMNS, run_cli, tiny_config, wait_for_generations, write_config


def _config(tmp_path: Path) -> Path:
    # Pendulum episodes always last 200 steps: generations take a predictable while.
    config = tiny_config(
        generations=14,
        env={"id": "Pendulum-v1", "episodes": 3},
        algorithm={"name": "openai_es", "population_size": 16, "sigma": 0.1},
        checkpoint={"every": 3},
        final_eval={"episodes": 5},
    )
    return write_config(tmp_path / "pendulum.yaml", config)


def _columns(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in FITNESS_COLUMNS} for line in lines]


def test_a_killed_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    path = _config(tmp_path)
    reference = run_cli("run", str(path), "--runs-dir", str(tmp_path / "reference"), "--quiet")
    assert reference.returncode == 0, reference.stderr
    reference_dir = Path(reference.stdout.strip())

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(killed), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_generations(killed, 7)
        os.kill(process.pid, signal.SIGKILL)  # no clean-up of any kind
    finally:
        process.wait()
    (run_dir,) = killed.iterdir()
    assert not (run_dir / "summary.json").exists(), "the run finished before it was killed"
    logged_before = len((run_dir / "metrics.jsonl").read_text().splitlines())
    assert 7 <= logged_before < 14

    resumed = run_cli("resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == str(run_dir)
    assert "resuming" in resumed.stdout.splitlines()[0]
    # Every generation exactly once, with the numbers of the uninterrupted run.
    assert _columns(run_dir) == _columns(reference_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    expected = json.loads((reference_dir / "summary.json").read_text())
    for key in ("generations", "evaluations", "env_steps", "best_fitness", "final_eval_mean"):
        assert summary[key] == expected[key], key
    np.testing.assert_array_equal(
        load_npz(run_dir / "best.npz")["params"], load_npz(reference_dir / "best.npz")["params"]
    )
    events = [
        json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()
    ]
    assert "resume" in events and events[-1] == "finish"


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    finished = run_cli(
        "run",
        str(_config(tmp_path)),
        "--runs-dir",
        str(tmp_path),
        "--quiet",
        "--set",
        "generations=2",
    )
    assert finished.returncode == 0, finished.stderr
    run_dir = Path(finished.stdout.strip())
    for target, fragment in [(run_dir, "has finished"), (tmp_path / "nope", "no such run folder")]:
        result = run_cli("resume", str(target))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert fragment in result.stderr
    (run_dir / "summary.json").unlink()
    for checkpoint in (run_dir / "checkpoints").iterdir():
        checkpoint.unlink()
    result = run_cli("resume", str(run_dir))
    assert result.returncode == 2 and "no checkpoint to resume from" in result.stderr
