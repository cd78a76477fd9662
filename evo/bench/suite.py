"""``evo bench suite``: every benchmark task over its seeds, as whole ``evo run`` processes.

Each (task, seed) is one ``python -m evo run CONFIG --set seed=S`` on the embedded
cluster, timed from process start to exit, with the config's own stop rule (its target
raised to the task's threshold where it is lower). What a run reached is read back from its
folder: the generation whose stop confirmation passed the task's threshold, the
training episodes and env steps up to it, and the held-out score of the final
evaluation. A run folder that already holds a finished run of the same config is
read, not run again, so that a long suite can be stopped and continued.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evo.errors import ConfigError, RunFolderError
from evo.runlog import RunRecord

MARKER = "suite.json"  # beside a (task, seed)'s run folder: its name, wall time and settings


@dataclass(frozen=True)
class Task:
    """One row of the benchmark table: a shipped config, its bar and its seeds."""

    name: str  # the env (or problem) as the table names it
    config: str  # a shipped config (``evo configs``)
    threshold: float  # stop.target_fitness and the held-out bar
    seeds: tuple[int, ...] = (0, 1, 2)
    reference_episodes: int | None = None  # the ARS paper's V2-t episodes to the threshold
    overrides: tuple[str, ...] = ()


# Mania, Guy & Recht 2018 ("Simple random search provides a competitive approach to
# reinforcement learning"), Table 1: episodes ARS V2-t needed to reach each threshold.
TASKS: tuple[Task, ...] = (
    Task("race track", "racetrack-es", 900.0),
    Task("race track", "racetrack-ga", 900.0),
    Task("CartPole-v1", "cartpole-es", 475.0),
    Task("CartPole-v1", "cartpole-ga", 475.0),
    Task("CartPole-v1", "cartpole-ars", 475.0),
    Task("CartPole-v1", "cartpole-cma", 475.0),
    Task("CartPole-v1", "cartpole-pgpe", 475.0),
    Task("LunarLander-v3", "lunarlander-es", 200.0, seeds=(0, 1, 2, 3, 4)),
    Task("BipedalWalker-v3", "bipedalwalker-ars", 300.0),
    Task("Swimmer-v5", "swimmer-ars", 325.0, reference_episodes=430),
    Task("Hopper-v5", "hopper-ars", 3120.0, reference_episodes=2_000),
    Task("Hopper-v5", "hopper-cma", 3120.0, reference_episodes=2_000),
    Task("HalfCheetah-v5", "halfcheetah-ars", 3430.0, reference_episodes=1_700),
    Task("Walker2d-v5", "walker2d-ars", 4390.0, reference_episodes=24_000),
)


@dataclass
class Outcome:
    """What one (task, seed) run reached."""

    task: str
    seed: int
    folder: Path
    wall_s: float  # the whole `evo run` process
    reached_generation: int | None  # the generation whose confirmation passed
    episodes: int | None  # training and confirmation episodes up to and including it
    env_steps: int | None
    final_mean: float | None
    final_std: float | None
    solved: bool  # the held-out mean reached the threshold
    stop_reason: str | None
    host: dict[str, Any] = field(default_factory=dict)  # from the run's start event
    curve: list[dict[str, float]] = field(default_factory=list)


def select_tasks(names: str | None) -> list[Task]:
    """The tasks named (comma-separated task or config names), or all of them."""
    if names is None:
        return list(TASKS)
    by_name = {task.config: task for task in TASKS} | {task.name: task for task in TASKS}
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown or not wanted:
        known = ", ".join(task.config for task in TASKS)
        raise ConfigError(
            f"--tasks: unknown task {', '.join(map(repr, unknown or [names]))}; known: {known}"
        )
    return list(dict.fromkeys(by_name[name] for name in wanted))


def run_suite(
    tasks: Sequence[Task],
    runs_dir: Path,
    *,
    seeds: Sequence[int] | None = None,
    overrides: Sequence[str] = (),
    report: Callable[[str], None] = print,
) -> dict[str, list[Outcome]]:
    """Run (or read back) every task over its seeds; outcomes per task, in seed order."""
    outcomes: dict[str, list[Outcome]] = {}
    for task in tasks:
        rows = outcomes.setdefault(task.config, [])
        for seed in task.seeds if seeds is None else seeds:
            folder = runs_dir / task.config / f"seed-{seed}"
            args = [*task.overrides, *overrides, f"seed={seed}"]
            args.append(f"stop.target_fitness={_stop_target(task, overrides)}")
            args.append(f"final_eval.threshold={task.threshold}")
            outcome = _finished(task, seed, folder, args) or _run(task, seed, folder, args)
            rows.append(outcome)
            report(_line(outcome))
    return outcomes


def _stop_target(task: Task, overrides: Sequence[str]) -> float:
    """The config's own stop target, or the task's threshold where that is higher or the
    config has none (a margin above the held-out bar is the config's to keep)."""
    from evo.config import load_config

    target = load_config(task.config, [*task.overrides, *overrides]).stop.target_fitness
    return task.threshold if target is None else max(float(target), task.threshold)


def _run(task: Task, seed: int, folder: Path, args: list[str]) -> Outcome:
    if folder.exists():  # an unfinished or differently set earlier attempt: run it afresh
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "evo", "run", task.config, "--quiet"]
    command += ["--runs-dir", str(folder)]
    for arg in args:
        command += ["--set", arg]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RunFolderError(
            f"{task.config} seed {seed}: evo run exited {done.returncode}: {message}"
        )
    run = Path(done.stdout.strip().splitlines()[-1])
    marker = {"run": run.name, "wall_s": wall, "args": args}
    (folder / MARKER).write_text(json.dumps(marker) + "\n")
    return read_outcome(task, seed, run, wall)


def _finished(task: Task, seed: int, folder: Path, args: list[str]) -> Outcome | None:
    """The finished run of this (task, seed) with the same settings, if the folder holds it."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("args") != args:
        return None
    run, wall = folder / str(marker.get("run")), marker.get("wall_s")
    if not isinstance(wall, float) or not (run / "summary.json").is_file():
        return None
    return read_outcome(task, seed, run, wall)


def read_outcome(task: Task, seed: int, run: Path, wall_s: float) -> Outcome:
    """What the run folder says the run reached."""
    record = RunRecord.read(run)
    summary = record.summary or {}
    metrics = list(record.metrics)
    events = list(record.events)
    passed = [
        e.get("generation") for e in events if e.get("event") == "confirm" and e.get("passed")
    ]
    reached = passed[0] if passed and isinstance(passed[0], int) else None
    at = next((row for row in metrics if row.get("generation") == reached), None)
    episodes = _count(at, "episodes")
    if episodes is not None:  # and the confirmations' episodes, up to the one that passed
        episodes += sum(
            e["episodes"]
            for e in events
            if e.get("event") == "confirm"
            and isinstance(e.get("generation"), int)
            and isinstance(e.get("episodes"), int)
            and e["generation"] <= reached
        )
    final_mean = _number(summary.get("final_eval_mean"))
    return Outcome(
        task=task.config,
        seed=seed,
        folder=run,
        wall_s=wall_s,
        reached_generation=reached,
        episodes=episodes,
        env_steps=_count(at, "env_steps"),
        final_mean=final_mean,
        final_std=_number(summary.get("final_eval_std")),
        solved=final_mean is not None and final_mean >= task.threshold,
        stop_reason=summary.get("stop_reason"),
        host=next((e.get("host") or {} for e in events if e.get("event") == "start"), {}),
        curve=[
            {key: float(row[key]) for key in ("episodes", "time_s", "fitness_mean")}
            for row in metrics
            if all(isinstance(row.get(key), int | float) for key in ("episodes", "time_s"))
        ],
    )


def median_or_none(values: Sequence[float | None]) -> float | None:
    """The median of the values that exist."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _count(row: dict[str, Any] | None, key: str) -> int | None:
    value = None if row is None else row.get(key)
    return value if isinstance(value, int) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _line(outcome: Outcome) -> str:
    reached = (
        f"reached at generation {outcome.reached_generation} ({outcome.episodes} episodes)"
        if outcome.reached_generation is not None
        else "threshold not reached"
    )
    score = (
        "no final evaluation"
        if outcome.final_mean is None
        else f"held-out {outcome.final_mean:.2f}"
    )
    return f"{outcome.task} seed {outcome.seed}: {reached}; {score}; {outcome.wall_s:.1f} s"
