"""A user's own code plugged in: a fitness function from Python (the README's script) and
from YAML, an env class that is not registered, and a module the workers cannot import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ON_THE_CLUSTER, REPO, run_cli, tiny_config, write_config
from tests.dask_processes import _start_scheduler, _start_worker, _stop

FITNESS_MODULE = '''
import numpy as np


def fitness(params):
    """(members, dim) float32 -> (members,): higher is better."""
    assert params.dtype == np.float32 and params.ndim == 2
    return -np.sum((params.astype(np.float64) - 0.5) ** 2, axis=1)


def one(x):
    return float(-np.sum((x.astype(np.float64) - 0.5) ** 2))
'''

ENV_MODULE = '''
import gymnasium
import numpy as np
from gymnasium import spaces


class Walk(gymnasium.Env):
    """Walk a point towards 1 in 20 steps; reward: minus the distance."""

    observation_space = spaces.Box(-10.0, 10.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1, 1)), 0
        return np.array([self.x], dtype=np.float32), {}

    def step(self, action):
        self.x += 0.1 if action == 1 else -0.1
        self.t += 1
        obs = np.array([self.x], dtype=np.float32)
        return obs, -abs(self.x - 1.0), False, self.t >= 20, {}
'''


def readme_script() -> str:
    """The Python example of the README, as printed there."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    scripts = [block for block in blocks if "evo.run(config, fitness=fitness" in block]
    assert scripts, "the README has no evo.run(..., fitness=...) example"
    return scripts[0]


def test_the_readme_script_runs_on_the_embedded_cluster(tmp_path: Path) -> None:
    script = tmp_path / "mine.py"
    script.write_text(readme_script())
    assert len(script.read_text().splitlines()) <= 25
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    printed = [line for line in lines if re.fullmatch(r"\d+ -?[\d.e+-]+", line)]
    assert [int(line.split()[0]) for line in printed] == list(range(1, 21))  # the callback's
    best, folder = lines[-1].split()
    run = tmp_path / folder
    summary = json.loads((run / "summary.json").read_text())
    assert summary["function"] == "__main__:fitness" and float(best) == summary["best_fitness"]
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert summary["best_fitness"] > first["fitness_max"]  # it improved
    assert "embedded LocalCluster" in done.stdout
    assert "entry_point: __main__:fitness" in (run / "config.yaml").read_text()


def _function_config(tmp_path: Path, **function: object) -> Path:
    config = tiny_config(function={"dim": 5, **function}, generations=4)
    config["final_eval"] = {"episodes": 1}
    return write_config(tmp_path / "fn.yaml", config)


def _summary(done: subprocess.CompletedProcess, cwd: Path) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads((cwd / done.stdout.splitlines()[-1] / "summary.json").read_text())


def test_a_yaml_entry_point_batched_or_not_same_numbers(tmp_path: Path) -> None:
    (tmp_path / "my_fitness.py").write_text(FITNESS_MODULE)
    batched = _function_config(tmp_path, entry_point="my_fitness:fitness")
    on_dask = run_cli(
        "run",
        str(batched),
        *ON_THE_CLUSTER,
        cwd=tmp_path,
    )
    serial = run_cli("run", str(batched), cwd=tmp_path)
    single = _function_config(tmp_path, entry_point="my_fitness:one", batched=False)
    one_by_one = run_cli("run", str(single), cwd=tmp_path)
    results = [_summary(done, tmp_path) for done in (on_dask, serial, one_by_one)]
    assert results[0]["function"] == "my_fitness:fitness"
    assert results[0]["best_fitness"] == results[1]["best_fitness"] == results[2]["best_fitness"]
    assert results[0]["best_fitness"] <= 0  # maximised: the function's own sign
    minimised = _function_config(tmp_path, entry_point="my_fitness:fitness", minimize=True)
    assert _summary(run_cli("run", str(minimised), cwd=tmp_path), tmp_path)["best_fitness"] >= 0


def test_an_env_entry_point_runs_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "my_env.py").write_text(ENV_MODULE)
    config = tiny_config(env={"entry_point": "my_env:Walk", "episodes": 2}, generations=3)
    path = write_config(tmp_path / "env.yaml", config)
    on_dask = _summary(
        run_cli(
            "run",
            str(path),
            *ON_THE_CLUSTER,
            cwd=tmp_path,
        ),
        tmp_path,
    )
    serial = _summary(run_cli("run", str(path), cwd=tmp_path), tmp_path)
    assert on_dask["env_id"] == "my_env:Walk"
    assert on_dask["best_fitness"] == serial["best_fitness"]
    assert on_dask["env_steps"] == serial["env_steps"] > 0


def test_bad_entry_points_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "my_fitness.py").write_text(FITNESS_MODULE)
    cases = [
        ({"entry_point": "no_such_module:f"}, "cannot import module 'no_such_module'"),
        ({"entry_point": "my_fitness:nope"}, "has no attribute 'nope'"),
        ({"entry_point": "my_fitness"}, "expected 'package.module:name'"),
    ]
    for function, fragment in cases:
        done = run_cli("run", str(_function_config(tmp_path, **function)), cwd=tmp_path)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and fragment in done.stderr, done.stderr
    env = tiny_config(env={"entry_point": "my_fitness:fitness"})
    done = run_cli("run", str(write_config(tmp_path / "e.yaml", env)), cwd=tmp_path)
    assert done.returncode == 2 and "expected a gymnasium.Env subclass" in done.stderr
    assert not (tmp_path / "runs").exists()  # no run folder for bad input


def test_a_module_the_workers_cannot_import_fails_fast(tmp_path: Path) -> None:
    """The orchestrator imports the module from its folder; workers started elsewhere
    cannot: one line, within seconds, not a hang."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    (here / "my_fitness.py").write_text(FITNESS_MODULE)
    logs = open(there / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(there, logs)
        processes += [scheduler, _start_worker(address, there, logs)]
        path = _function_config(here, entry_point="my_fitness:fitness")
        begun = time.monotonic()
        done = run_cli("run", str(path), "--scheduler", address, cwd=here, timeout=120)
        took = time.monotonic() - begun
    finally:
        _stop(processes)
        logs.close()
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot import module 'my_fitness'" in lines[0]
    assert "every Dask worker" in lines[0]
    assert took < 60
