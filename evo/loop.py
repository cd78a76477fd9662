"""The generation loop: ask -> evaluate -> tell -> log -> checkpoint, and the final evaluation."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo.backends import Backend, Evaluation, TaskRun, make_backend
from evo.config import ExperimentConfig, dump_yaml, load_config
from evo.errors import EvaluationError, RunFolderError, WorkersLostError
from evo.evaluation import Problem
from evo.lineage import generation_record
from evo.population import Members, Population
from evo.reporting import Reporter
from evo.runlog import CONFIG, RunFolder
from evo.seeding import confirm_seeds, final_seeds, init_rng, strategy_rng
from evo.strategies import Strategy, make_strategy
from evo.strategies.base import State, state_arrays


@dataclass(frozen=True)
class RunResult:
    """Where a run was written and its summary."""

    path: Path
    summary: dict[str, Any]


def run(
    config: ExperimentConfig,
    runs_dir: str | os.PathLike[str] = "runs",
    *,
    client: object | None = None,
    scheduler: str | None = None,
    reporter: Reporter | None = None,
    folder_name: str | None = None,
) -> RunResult:
    """Run an experiment into a new run folder under ``runs_dir``.

    Everything that can fail on bad input (the env, the scheduler address) is
    checked before the folder is created. ``client`` is an existing
    ``distributed.Client`` (dask-jobqueue, dask-kubernetes, ...; a sweep's
    shared one). The folder is ``<name>-<timestamp>``, or ``folder_name`` exactly.
    """
    started = time.perf_counter()
    if config.seed is None:
        config = dataclasses.replace(config, seed=secrets.randbits(31))
    reporter = reporter or Reporter()
    problem = Problem.from_config(config)
    strategy, experiment = method(config, problem)
    backend = make_backend(problem, config.backend, client=client, scheduler=scheduler)
    try:
        where = backend.describe()
        reporter.info(where)
        versions = package_versions()
        folder = RunFolder.create(runs_dir, folder_name or config.name, stamp=folder_name is None)
        folder.write_config(_provenance_header(versions) + dump_yaml(config))
        folder.append_event("start", versions=versions, backend=where)
        running = experiment(config, problem, strategy, backend, folder, reporter, started)
        with orchestrator_threads(backend):
            summary = running.run()
        return RunResult(folder.path, summary)
    finally:
        reporter.close()
        backend.close()


def resume(
    run_dir: str | os.PathLike[str],
    *,
    client: object | None = None,
    scheduler: str | None = None,
    reporter: Reporter | None = None,
) -> RunResult:
    """Continue a run that stopped early (killed, crashed, interrupted) from its newest
    checkpoint. The generations after the checkpoint are run again; being deterministic,
    they give the numbers the first attempt would have, and their log lines replace any
    the first attempt wrote."""
    started = time.perf_counter()
    folder = RunFolder.open(run_dir)
    if folder.read_summary() is not None:
        raise RunFolderError(f"{folder.path}: the run has finished (it has a summary.json)")
    config = load_config(folder.path / CONFIG)
    reporter = reporter or Reporter()
    problem = Problem.from_config(config)
    strategy, experiment_class = method(config, problem)
    point = Checkpoint.latest(folder, strategy)
    backend = make_backend(problem, config.backend, client=client, scheduler=scheduler)
    try:
        where = backend.describe()
        reporter.info(f"resuming {folder.path} after generation {point.state.generation}")
        reporter.info(where)
        folder.truncate_metrics(point.state.generation)
        folder.truncate_lineage(point.state.generation)
        folder.append_event("resume", generation=point.state.generation, backend=where)
        experiment = experiment_class(config, problem, strategy, backend, folder, reporter, started)
        with orchestrator_threads(backend):
            return RunResult(folder.path, experiment.run(point))
    finally:
        reporter.close()
        backend.close()


@contextlib.contextmanager
def orchestrator_threads(backend: Backend) -> Iterator[None]:
    """One BLAS thread in this process while an embedded cluster's workers use every core:
    numpy's idle BLAS threads spin-wait after each call (a norm, a test-set pass) and take
    CPU from the workers (2-vs-1-worker speedup of the wide spiral net: 1.42 -> 1.71)."""
    if getattr(backend, "cluster", None) is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def method(config: ExperimentConfig, problem: Problem) -> tuple[Any, type[Experiment]]:
    """How the run improves its network: a strategy and the generation loop, or (``mode:
    gradient``) a trainer and the round loop."""
    if config.mode == "gradient":
        from evo.gradient.loop import GradientExperiment, make_trainer

        return make_trainer(config, problem), GradientExperiment
    return make_strategy(config.algorithm), Experiment


@dataclass(frozen=True)
class Checkpoint:
    """A saved point of a run: the strategy's state, the tallies, the time spent."""

    state: State
    tally: Tally
    elapsed_s: float

    @classmethod
    def latest(cls, folder: RunFolder, strategy: Strategy) -> Checkpoint:
        """The newest checkpoint the metrics log has caught up with."""
        found = folder.newest_checkpoint(len(folder.read_metrics()), strategy)
        if found is not None:
            state, meta = found
            tally = Tally(meta["evaluations"], meta["env_steps"])
            return cls(state, tally, float(meta["elapsed_s"]))
        raise RunFolderError(f"{folder.path}: no checkpoint to resume from")


@dataclass
class Tally:
    """Running totals over the generations."""

    evaluations: int = 0
    env_steps: int = 0

    def add(self, evaluation: Evaluation) -> None:
        self.evaluations += len(evaluation.fitness)
        self.env_steps += int(evaluation.steps.sum())


class Experiment:
    """One run in progress: the loop and what it writes."""

    def __init__(
        self,
        config: ExperimentConfig,
        problem: Problem,
        strategy: Strategy,
        backend: Backend,
        folder: RunFolder,
        reporter: Reporter,
        started: float,
    ) -> None:
        self.config, self.problem, self.strategy = config, problem, strategy
        self.started = started
        self.backend, self.folder, self.reporter = backend, folder, reporter
        self.seed: int = config.seed  # type: ignore[assignment]  (resolved by run())
        self.generations = config.generations  # the most the loop runs
        self.tally = Tally()

    def run(self, resume: Checkpoint | None = None) -> dict[str, Any]:
        """The generation loop (from the start or a checkpoint), then the final evaluation."""
        config, strategy, seed = self.config, self.strategy, self.seed
        if resume is None:
            rng = init_rng(seed)
            state, elapsed = strategy.init(rng, self.problem.policy.initial_params(rng)), 0.0
        else:
            state, self.tally, elapsed = resume.state, resume.tally, resume.elapsed_s
        start, reason, final_params = time.perf_counter() - elapsed, "generations", None
        self.reporter.start(config)
        clock = [time.perf_counter()]  # then: the end of the previous generation's tell
        with self.recording_stops(lambda: state, start):
            for generation in range(state.generation, config.generations):
                incumbent = strategy.solution(state)
                origins = strategy.base_origins(state)  # the lineage's parents
                # write_s: from the end of the previous tell, through its writes, to now
                clock = [clock[-1], time.perf_counter()]
                population, state = strategy.ask(strategy_rng(seed, generation), state)
                seeds = self.problem.generation_seeds(seed, generation, population.size)
                clock.append(time.perf_counter())
                evaluation = self.backend.evaluate(population, seeds, generation)
                self.log_events(evaluation, generation)
                if evaluation.errors:
                    self.handle_errors(evaluation, state, generation, time.perf_counter() - start)
                clock.append(time.perf_counter())
                state, info = strategy.tell(state, population, evaluation.fitness)
                clock.append(time.perf_counter())
                self.tally.add(evaluation)
                record = self.metrics(generation, population, evaluation, state, info, clock, start)
                lineage = generation_record(generation, population, evaluation, origins)
                self.folder.write_lineage(generation, lineage)
                self.folder.append_metrics(record)
                self.reporter.generation(record, config.generations)
                # The member the target is judged on: the re-evaluated incumbent (member 0)
                # or, for strategies that do not re-evaluate it, their new solution.
                scored = incumbent if population.incumbent else strategy.solution(state)
                early = self.stop_reason(record, scored)
                # The checkpoint last: it never runs ahead of the log, and it counts the
                # steps of a stop confirmation, so a resumed run counts what this one does.
                if state.generation % config.checkpoint.every == 0:
                    self.checkpoint(state, time.perf_counter() - start)
                if early:
                    reason = early
                    final_params = scored if early == "target_fitness" else None
                    break
        if state.generation % config.checkpoint.every:
            self.checkpoint(state, time.perf_counter() - start)
        self.folder.append_event("stop", reason=reason, generations=state.generation)
        if final_params is None:
            final_params = strategy.solution(state)
        return self.finish(state, final_params, reason, time.perf_counter() - start)

    @contextlib.contextmanager
    def recording_stops(self, latest: Callable[[], State], start: float) -> Iterator[None]:
        """Around the loop: an interrupt, a failed evaluation or lost workers end it with
        a ``stop`` event (``latest()`` is the loop's state then), lost workers after a
        checkpoint, so that `evo resume` can go on."""
        try:
            yield
        except KeyboardInterrupt:
            self.folder.append_event("stop", reason="interrupted", generations=latest().generation)
            raise
        except EvaluationError as exc:
            self.folder.append_event(
                "stop", reason="error", generations=latest().generation, message=str(exc)
            )
            raise
        except WorkersLostError as exc:
            self.checkpoint(latest(), time.perf_counter() - start)  # for `evo resume`
            self.folder.append_event(
                "stop", reason="no_workers", generations=latest().generation, message=str(exc)
            )
            raise

    def metrics(
        self,
        generation: int,
        population: Population,
        evaluation: Evaluation,
        state: State,
        info: dict[str, Any],
        clock: list[float],
        start: float,
    ) -> dict[str, Any]:
        """One line of ``metrics.jsonl``."""
        fitness = evaluation.fitness
        finite = fitness[np.isfinite(fitness)]
        stats = (
            {name: float(f(finite)) for name, f in _STATS.items()}
            if finite.size
            else dict.fromkeys(_STATS, float("nan"))
        )
        return {
            "generation": generation,
            "evaluations": self.tally.evaluations,
            "episodes": self.tally.evaluations * self.config.env.episodes,
            "env_steps": self.tally.env_steps,
            "samples": self.samples(),
            **stats,
            "failed": int(np.sum(~np.isfinite(fitness))),
            "solution_fitness": float(fitness[0]) if population.incumbent else None,
            "best_so_far": state.best_fitness,
            **clock_columns(clock, start),
            **cost_columns(evaluation),
            **self.data_metrics(generation, state),
            **info,
        }

    def samples(self) -> int:
        """Forward passes so far, the one budget every kind of run shares: env steps,
        examples scored (a data run's "steps"), or evaluations of a function."""
        return self.tally.evaluations if self.config.function else self.tally.env_steps

    def data_metrics(self, generation: int, state: State) -> dict[str, Any]:
        """A data run's test (and whole training split) scores of the solution, every
        ``data.eval_every`` generations and at the last one; null on other lines."""
        task, data = self.problem.data, self.config.data
        if task is None or data is None:
            return {}
        keys = ("test_loss", "test_accuracy", "train_loss", "train_accuracy")
        last = generation + 1 == self.generations
        if (generation + 1) % data.eval_every and not last:
            return dict.fromkeys(keys)
        params = self.strategy.solution(state)
        test_loss, test_correct = task.split_scores(self.problem.policy, params, "test")
        train_loss, train_correct = task.split_scores(self.problem.policy, params, "train")
        scores = (test_loss, test_correct.mean(), train_loss, train_correct.mean())
        return {key: float(value) for key, value in zip(keys, scores, strict=True)}

    def log_events(self, evaluation: Evaluation | TaskRun, generation: int | None) -> None:
        """What happened on the cluster during an evaluation or a gradient round (None:
        outside a generation)."""
        for record in evaluation.events:
            self.folder.append_event(**record, generation=generation)

    def handle_errors(
        self, evaluation: Evaluation, state: State, generation: int, elapsed: float
    ) -> None:
        """Members whose env raised: stop after a checkpoint (default) or score them -inf."""
        if self.config.env.on_error == "stop":
            self.checkpoint(state, elapsed)  # so `evo resume` can retry once the env is fixed
            evaluation.raise_for_errors(generation)
        first = min(evaluation.errors)
        self.folder.append_event(
            "members_failed",
            generation=generation,
            members=sorted(evaluation.errors),
            first_error=evaluation.errors[first],
        )
        evaluation.fitness[list(evaluation.errors)] = -np.inf

    def stop_reason(self, record: dict[str, Any], scored: np.ndarray) -> str | None:
        """Why to stop after this generation, if at all.

        A training score is a few episodes and easily lucky: when the solution
        reaches the target it must also reach it on fresh confirmation episodes.
        """
        stop = self.config.stop
        score = record["solution_fitness"]
        score = record["fitness_max"] if score is None else score
        if stop.target_fitness is not None and score is not None and score >= stop.target_fitness:
            if not stop.confirm_episodes:
                return "target_fitness"
            if self.problem.data is not None:  # a minibatch is the lucky draw: the whole split
                confirmed = self.problem.data.split_fitness(self.problem.policy, scored, "train")
            else:
                seeds = confirm_seeds(self.seed, record["generation"], stop.confirm_episodes)
                confirmed = float(self.evaluate_params(scored, seeds).mean())
            self.folder.append_event(
                "confirm",
                generation=record["generation"],
                mean=confirmed,
                episodes=stop.confirm_episodes,
                passed=confirmed >= stop.target_fitness,
            )
            if confirmed >= stop.target_fitness:
                return "target_fitness"
        if stop.max_time_s is not None and record["time_s"] >= stop.max_time_s:
            return "max_time_s"
        return None

    def checkpoint(self, state: State, elapsed: float) -> None:
        """Save everything needed to continue after ``state.generation`` generations."""
        arrays = {f"state.{k}": v for k, v in state_arrays(state).items()}
        meta = {
            "strategy": self.strategy.name,
            "seed": self.seed,
            "evaluations": self.tally.evaluations,
            "env_steps": self.tally.env_steps,
            "elapsed_s": elapsed,
        }
        path = self.folder.save_checkpoint(
            state.generation, arrays, meta, self.config.checkpoint.keep
        )
        self.folder.append_event("checkpoint", generation=state.generation, path=path.name)

    def evaluate_params(self, params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Return of ``params`` on each seed's episode, spread over the backend like members."""
        if len(seeds) == 0:
            return np.zeros(0)
        members = Members.build(np.zeros(len(seeds), dtype=np.int32), 0, 0.0)
        population = Population(
            bases=np.asarray(params, dtype=np.float32)[None, :], members=members
        )
        evaluation = self.backend.evaluate(population, seeds[:, None], generation=-1)
        self.log_events(evaluation, None)
        evaluation.raise_for_errors(-1)
        self.tally.env_steps += int(evaluation.steps.sum())
        return evaluation.fitness

    def finish(
        self, state: State, params: np.ndarray, reason: str, training_s: float
    ) -> dict[str, Any]:
        """Final evaluation, ``best.npz`` and ``summary.json``."""
        test_loss = None
        if self.problem.data is not None:
            # A data run is evaluated on the held-out test split instead of episodes: each
            # test example scores 1 if classified right, else 0, so final_eval_mean (and
            # the solved threshold) is the test accuracy and final_eval_episodes the examples.
            test_loss, returns = self.problem.data.split_scores(self.problem.policy, params, "test")
            returns = returns.astype(np.float64)
        else:
            returns = self.evaluate_params(params, final_seeds(self.config.final_eval.episodes))
        mean = float(returns.mean()) if returns.size else float("nan")
        threshold = self.config.final_eval.threshold
        threshold = self.problem.reward_threshold if threshold is None else threshold
        self.folder.write_best(params, self.problem.policy.to_json(), mean)
        self.folder.append_event("final_eval", episodes=int(returns.size), mean=mean)
        summary = {
            "name": self.config.name,
            "seed": self.seed,
            "algorithm": self.strategy.name,
            "env_id": None if self.config.function or self.config.data else self.config.env.id,
            "function": self.config.function.name if self.config.function is not None else None,
            "data": self.config.data.name if self.config.data is not None else None,
            "num_params": self.problem.policy.num_params,
            "generations": state.generation,
            "evaluations": self.tally.evaluations,
            "env_steps": self.tally.env_steps,
            "samples": self.samples(),
            "stop_reason": reason,
            "training_time_s": training_s,
            "best_fitness": state.best_fitness,
            "final_eval_mean": mean,
            "final_eval_std": float(returns.std()) if returns.size else float("nan"),
            "final_eval_min": float(returns.min()) if returns.size else float("nan"),
            "final_eval_max": float(returns.max()) if returns.size else float("nan"),
            "final_eval_episodes": int(returns.size),
            "solve_threshold": threshold,
            "solved": bool(returns.size and threshold is not None and mean >= threshold),
        }
        if test_loss is not None:
            summary.update(test_accuracy=mean, test_loss=test_loss)
        summary["wall_time_s"] = time.perf_counter() - self.started
        self.folder.write_summary(summary)
        self.folder.append_event("finish", wall_time_s=summary["wall_time_s"])
        self.reporter.finish(summary)
        return summary


def clock_columns(clock: list[float], start: float) -> dict[str, float]:
    """A metrics line's wall time and its split. The splits partition the time since the
    previous line: that line's writes (lineage, metrics, checkpoint, stop check), then
    this generation's (or round's) ask, evaluate, tell."""
    return {
        "time_s": clock[4] - start,
        "write_s": clock[1] - clock[0],
        "ask_s": clock[2] - clock[1],
        "evaluate_s": clock[3] - clock[2],
        "tell_s": clock[4] - clock[3],
    }


def cost_columns(run: Evaluation | TaskRun) -> dict[str, Any]:
    """A metrics line's cluster costs: time in tasks, tasks, workers, traffic, re-runs."""
    return {
        "compute_s": run.compute_s,
        "tasks": run.tasks,
        "workers": run.workers,
        "bytes_sent": run.bytes_sent,
        "bytes_received": run.bytes_received,
        "transfer_bytes": run.transfer_bytes,
        "retried": run.retried,
    }


_STATS = {
    "fitness_max": np.max,
    "fitness_mean": np.mean,
    "fitness_median": np.median,
    "fitness_min": np.min,
    "fitness_std": np.std,
}


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in ("evo", "numpy", "dask", "distributed", "gymnasium"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _provenance_header(versions: dict[str, str]) -> str:
    listed = ", ".join(f"{k} {v}" for k, v in versions.items())
    return f"# resolved by evo; rerun with: evo run <this file>\n# {listed}\n"
