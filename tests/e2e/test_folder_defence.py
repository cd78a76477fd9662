"""Run folders that defend themselves: one writer at a time, an edited config refused, no
write through a symbolic link out of the folder, exports that never write into a run
folder, a corrupt checkpoint a bad-folder error. Each case is a real run folder, tampered
with as a user (or an attacker) would, and the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli, start_cli, tiny_config, write_config


def _stopped_run(tmp_path: Path, **overrides: object) -> Path:
    """A run folder as a run killed after 3 of 6 generations leaves it."""
    settings = {"generations": 3, "checkpoint.every": 1, **overrides}
    config = write_config(tmp_path / "run.yaml", tiny_config(**settings))
    result = run_cli("run", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    (run_dir / "summary.json").unlink()
    text = (run_dir / "config.yaml").read_text().replace("generations: 3", "generations: 6")
    (run_dir / "config.yaml").write_text(text)  # generations may change: a safe key
    return run_dir


def _one_line_error(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evo: error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_a_second_writer_of_a_folder_is_refused(tmp_path: Path) -> None:
    run_dir = _stopped_run(tmp_path, generations=3)
    text = (run_dir / "config.yaml").read_text().replace("generations: 6", "generations: 100000")
    (run_dir / "config.yaml").write_text(text)
    first = start_cli("resume", str(run_dir))
    try:
        deadline = time.monotonic() + 60
        while not first.stdout.readline().startswith("gen "):
            assert time.monotonic() < deadline and first.poll() is None, "the first never ran"
        before = (run_dir / "metrics.jsonl").stat().st_size
        second = run_cli("resume", str(run_dir))
        _one_line_error(second, str(run_dir), f"in use by evo process {first.pid}")
        assert (run_dir / "metrics.jsonl").stat().st_size >= before  # nothing truncated
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the lock went with the killed process: the folder can be resumed again
    newest = max(int(p.stem[4:]) for p in (run_dir / "checkpoints").glob("gen-*.json"))
    third = run_cli("resume", str(run_dir), "--set", f"generations={newest + 2}", "--quiet")
    assert third.returncode == 0, third.stderr


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("hidden_sizes:\n  - 8", "hidden_sizes:\n  - 4", "policy.hidden_sizes: [8] -> [4]"),
        ("sigma: 0.1", "sigma: 0.2", "algorithm.sigma: 0.1 -> 0.2"),
        ("seed: 7", "seed: 8", "seed: 7 -> 8"),
        ("episodes: 2", "episodes: 3", "env.episodes: 2 -> 3"),
    ],
)
def test_an_edited_config_is_refused(tmp_path: Path, old: str, new: str, key: str) -> None:
    run_dir = _stopped_run(tmp_path)
    text = (run_dir / "config.yaml").read_text()
    assert old in text, text
    (run_dir / "config.yaml").write_text(text.replace(old, new, 1))
    before = _snapshot(run_dir)
    result = run_cli("resume", str(run_dir))
    _one_line_error(result, "config.yaml: edited since its checkpoint", key)
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize("name", ["events.jsonl", "metrics.jsonl", "lineage", "checkpoints"])
def test_resume_never_writes_through_a_link(tmp_path: Path, name: str) -> None:
    run_dir = _stopped_run(tmp_path)
    elsewhere = tmp_path / f"elsewhere-{name}"
    (run_dir / name).rename(elsewhere)
    (run_dir / name).symlink_to(elsewhere)
    outside = _snapshot(elsewhere) if elsewhere.is_dir() else elsewhere.read_bytes()
    result = run_cli("resume", str(run_dir))
    _one_line_error(result, f"{run_dir / name}: a symbolic link")
    assert (_snapshot(elsewhere) if elsewhere.is_dir() else elsewhere.read_bytes()) == outside


def test_exports_never_write_into_a_run_folder(tmp_path: Path) -> None:
    run_dir = _stopped_run(tmp_path)
    before = _snapshot(run_dir)
    for args in (
        ["--csv", str(run_dir / "metrics.jsonl")],
        ["--events-csv", str(run_dir / "checkpoints" / "events.csv")],
        ["--member", "1:0", "-o", str(run_dir / "best.npz")],
        ["--tensorboard", str(run_dir)],
    ):
        result = run_cli("export", str(run_dir), *args)
        _one_line_error(result, "inside the run folder")
    assert _snapshot(run_dir) == before
    # an export elsewhere replaces its destination whole, only once it has succeeded
    out = tmp_path / "metrics.csv"
    out.write_text("kept\n")
    failed = run_cli("export", str(run_dir), "--csv", str(out), "--lineage-csv", "/nope/x.csv")
    assert failed.returncode == 2 and out.read_text() == "kept\n"
    done = run_cli("export", str(run_dir), "--csv", str(out))
    assert done.returncode == 0 and out.read_text().startswith("generation,")


def test_a_corrupt_checkpoint_is_a_bad_folder(tmp_path: Path) -> None:
    run_dir = _stopped_run(tmp_path)
    newest = sorted((run_dir / "checkpoints").glob("gen-*.npz"))[-1]
    with np.load(newest) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["state.centre"] = arrays["state.centre"][:-3]  # another network's parameters
    np.savez(newest, **arrays)
    result = run_cli("resume", str(run_dir))
    _one_line_error(result, newest.with_suffix(".json").name, "state.centre is float32[")
    meta = newest.with_suffix(".json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "evaluations": "many"}))
    result = run_cli("resume", str(run_dir))
    _one_line_error(result, "not a checkpoint of this run")
