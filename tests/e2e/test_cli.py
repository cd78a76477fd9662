"""The real `evo` command line, end to end: run, the run folder's files, rerun, Ctrl-C, the
version, and the console script importing like `python -m evo`."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from evo.config import load_config
from evo.policies import MLPSpec
from evo.runlog import load_npz
from tests.conftest import FITNESS_COLUMNS, REPO, run_cli, start_cli, tiny_config, write_config

METRIC_KEYS = {
    *FITNESS_COLUMNS,
    *("time_s", "ask_s", "evaluate_s", "tell_s", "write_s"),
    *("bytes_sent", "bytes_received", "workers", "tasks", "compute_s"),
}
SUMMARY_KEYS = {
    "generations",
    "evaluations",
    "env_steps",
    "wall_time_s",
    "best_fitness",
    "final_eval_mean",
    "final_eval_std",
    "final_eval_episodes",
    "solved",
}

# What pip writes into bin/evo for `evo = "evo.cli:main"` (less the shebang).
CONSOLE_SCRIPT = "import sys\nfrom evo.cli import main\nsys.exit(main())\n"

HERE_MODULE = """\
import gymnasium

gymnasium.register(
    id="Here-v0",
    entry_point="gymnasium.envs.classic_control:CartPoleEnv",
    max_episode_steps=20,
)
"""


@pytest.fixture(scope="module")
def finished_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess]:
    """A tiny GA run on an embedded 2-worker LocalCluster, through the CLI."""
    tmp = tmp_path_factory.mktemp("cli")
    config = tiny_config(
        generations=5,
        algorithm={"name": "ga", "population_size": 12, "truncation": 4, "elites": 1},
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2},
    )
    path = write_config(tmp / "tiny.yaml", config)
    result = run_cli("run", str(path), "--runs-dir", str(tmp / "runs"))
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), result


def test_console_output(finished_run) -> None:
    run_dir, result = finished_run
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(run_dir)
    assert "embedded LocalCluster at tls://127.0.0.1:" in lines[0]  # closed to other users
    assert "dashboard http://127.0.0.1:" in lines[0]
    generation_lines = [line for line in lines if line.startswith("gen ")]
    assert len(generation_lines) == 5
    for line in generation_lines:
        for word in ("best", "mean", "evals/s", "elapsed"):
            assert word in line
    assert any(line.startswith("final evaluation: mean") for line in lines)
    assert result.stderr == ""


def test_run_folder_files(finished_run) -> None:
    run_dir, _ = finished_run
    assert run_dir.name.startswith("tiny-")
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".lock",  # held while a process writes the folder (empty of meaning once it ended)
        "best.npz",
        "checkpoints",
        "config.yaml",
        "events.jsonl",
        "lineage",
        "metrics.jsonl",
        "summary.json",
    ]
    lineage = sorted(p.name for p in (run_dir / "lineage").glob("*.npz"))
    assert lineage == [f"{g:06d}.npz" for g in range(1, 6)]  # generations numbered from 1
    config = load_config(run_dir / "config.yaml")
    assert config.algorithm.name == "ga" and config.generations == 5 and config.seed == 7
    assert "numpy" in (run_dir / "config.yaml").read_text().splitlines()[1]  # versions header

    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["generation"] for m in metrics] == list(range(1, 6))
    for m in metrics:
        assert set(m) >= METRIC_KEYS
        assert m["fitness_min"] <= m["fitness_median"] <= m["fitness_max"]
    # The generations evaluated in process while the workers start, then on the workers:
    # never back.
    where = [(m["workers"], m["bytes_sent"] > 0) for m in metrics]
    assert set(where) <= {(1, False), (2, True)}, where
    assert where == sorted(where), where
    assert [m["evaluations"] for m in metrics] == [12 * (g + 1) for g in range(5)]
    assert all(b["best_so_far"] >= a["best_so_far"] for a, b in itertools.pairwise(metrics))

    events = [
        json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()
    ]
    assert events[0] == "start" and events[-1] == "finish"
    assert {"checkpoint", "stop", "final_eval"} <= set(events)

    # checkpoint.every = 2 and keep = 3: generations 2, 4 and the final 5.
    stems = sorted(p.stem for p in (run_dir / "checkpoints").glob("*.json"))
    assert stems == ["gen-000002", "gen-000004", "gen-000005"]
    for stem in stems:
        meta = json.loads((run_dir / "checkpoints" / f"{stem}.json").read_text())
        arrays = load_npz(run_dir / "checkpoints" / f"{stem}.npz")  # allow_pickle=False
        assert meta["generation"] == int(stem[4:]) == int(arrays["state.generation"])
        assert arrays["state.parents"].dtype == np.float32

    best = load_npz(run_dir / "best.npz")
    spec = MLPSpec.from_json(str(best["policy_spec"]))
    assert best["params"].shape == (spec.num_params,)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["generations"] == 5 and summary["evaluations"] == 60
    assert summary["final_eval_episodes"] == 4
    assert summary["env_steps"] >= metrics[-1]["env_steps"]


def test_rerun_from_saved_config(finished_run, tmp_path: Path) -> None:
    run_dir, _ = finished_run
    result = run_cli("run", str(run_dir / "config.yaml"), "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rerun = Path(result.stdout.strip().splitlines()[-1])
    assert rerun.parent == tmp_path

    def fitness(path: Path) -> list:
        return [
            {
                k: v
                for k, v in json.loads(line).items()
                if k.startswith("fitness") or k == "best_so_far"
            }
            for line in (path / "metrics.jsonl").read_text().splitlines()
        ]

    assert fitness(rerun) == fitness(run_dir)


def _interrupt(tmp_path: Path, signum: int, group: bool) -> None:
    config = tiny_config(
        generations=100_000,
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2},
    )
    path = write_config(tmp_path / "long.yaml", config)
    runs = tmp_path / "runs"
    process = start_cli("run", str(path), "--runs-dir", str(runs))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("gen "):
                break
        else:
            pytest.fail("no generation line within 120 s")
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2  # the worker processes (and their nannies)
        if group:
            os.killpg(process.pid, signum)  # what a terminal's Ctrl-C does
        else:
            process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + signum, err
        name = signal.Signals(signum).name
        assert err.strip().splitlines() == [f"evo: interrupted ({name})"], err
        _gone, alive = psutil.wait_procs(children, timeout=20)
        assert alive == [], f"orphaned processes: {alive}"
        (run_dir,) = runs.iterdir()
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert events[-1]["event"] == "stop" and events[-1]["reason"] == "interrupted"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint", "ctrl-c-process-group", "sigterm"],
)
def test_interrupt_closes_the_cluster(tmp_path: Path, signum: int, group: bool) -> None:
    _interrupt(tmp_path, signum, group)


def test_saved_config_is_plain_yaml(finished_run) -> None:
    run_dir, _ = finished_run
    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert data["backend"]["kind"] == "dask" and data["algorithm"]["name"] == "ga"


def test_a_terminal_gets_a_live_progress_bar(tmp_path: Path) -> None:
    import io

    from evo.config import from_dict
    from evo.experiment import run
    from evo.reporting import LiveReporter

    stream = io.StringIO()
    config = from_dict(tiny_config(generations=3))
    result = run(config, tmp_path / "runs", reporter=LiveReporter(stream, force_terminal=True))
    out = stream.getvalue()
    assert "gen 3/3" in out and "best" in out and "evals/s" in out and "workers 1" in out
    assert "final evaluation" in out
    assert (result.path / "summary.json").exists()


def test_version_is_the_package_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"evo {project['version']}\n"


def _console_script(tmp_path: Path, how: str) -> list[str]:
    if how == "installed":
        installed = shutil.which("evo")
        if installed is None:
            pytest.skip("no `evo` console script on PATH")
        return [installed]
    script = tmp_path / "bin" / "evo"  # not the working directory: as a real console script
    script.parent.mkdir()
    script.write_text(CONSOLE_SCRIPT)
    return [sys.executable, str(script)]


@pytest.mark.parametrize("how", ["script", "installed"])
def test_the_console_script_imports_modules_of_the_working_directory(
    tmp_path: Path, how: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "herenv.py").write_text(HERE_MODULE)
    env = {"id": "herenv:Here-v0", "episodes": 1}
    write_config(
        work / "here.yaml", tiny_config(generations=1, env=env, **{"final_eval.episodes": 0})
    )
    command = _console_script(tmp_path, how)
    result = subprocess.run(
        [*command, "run", "here.yaml", "--runs-dir", "runs", "--quiet"],
        capture_output=True,
        text=True,
        cwd=work,
        env={k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (work / "runs").iterdir()
    assert result.stdout.strip() == str(Path("runs") / run_dir.name)
    assert (run_dir / "summary.json").is_file()
