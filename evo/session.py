"""One run in progress: what the loop drives and what it writes into the run folder.

A :class:`Session` holds the method, the backend, the folder and the callbacks;
its methods are the loop's verbs: a step with failures handled, the metrics
line, the stop rule, checkpoints, and the final evaluation with the summary.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from evo.backends import Backend, Evaluation, Normalizing, TaskRun
from evo.callbacks import Callback
from evo.checkpoints import Checkpoint, Tally, initial_observations, write_checkpoint
from evo.config import ExperimentConfig
from evo.errors import EvaluationError, RunFolderError, SchedulerLostError, WorkersLostError
from evo.interrupts import deferred
from evo.methods import MembersFailed, Method, Step, Stopwatch
from evo.population import Members, Population
from evo.problems import Problem
from evo.problems.normalization import Normalizer, ObservationStats, policy_arrays
from evo.runformat import FORMAT
from evo.runlog import RunFolder
from evo.seeding import confirm_seeds, final_seeds
from evo.strategies.base import State

_STATS = {
    "fitness_max": np.max,
    "fitness_mean": np.mean,
    "fitness_median": np.median,
    "fitness_min": np.min,
    "fitness_std": np.std,
}


@dataclass
class Session:
    """A run's parts, and the totals and clock that its checkpoints carry on."""

    config: ExperimentConfig
    problem: Problem
    method: Method
    backend: Backend
    folder: RunFolder
    callbacks: Callback
    started: float  # when the process began the run (for the summary's wall time)
    tally: Tally
    start: float = 0.0  # the loop's clock: now minus the time already spent
    # The running observation statistics, merged after each generation (None: the run does
    # not normalise observations); see evo.problems.normalization.
    observations: ObservationStats | None = None
    saved: int = -1  # the generation of the newest checkpoint written (-1: none)
    saved_at: float = 0.0  # when it was written (perf_counter)
    committed: Checkpoint | None = None  # the last whole generation, for an interrupt

    @classmethod
    def begin(
        cls,
        config: ExperimentConfig,
        problem: Problem,
        method: Method,
        backend: Backend,
        folder: RunFolder,
        callbacks: Callback,
        started: float,
        point: Checkpoint | None = None,
    ) -> Session:
        """A session from ``point`` (a checkpoint, saved already; None: the start of a run,
        not saved): its tallies, time spent and observation statistics."""
        if point is None:
            saved, tally, elapsed = -1, Tally(), 0.0
            observations = initial_observations(config, problem)
        else:
            if config.policy.normalize_observations and point.observations is None:
                raise RunFolderError(
                    f"{folder.path}: the checkpoint lacks the observation statistics"
                )
            saved, elapsed = point.state.generation, point.elapsed_s
            tally = Tally(point.tally.evaluations, point.tally.env_steps)
            observations = point.observations
        parts = (config, problem, method, backend, folder, callbacks)
        now = time.perf_counter()
        return cls(
            *parts,
            started=started,
            tally=tally,
            start=now - elapsed,
            observations=observations,
            saved=saved,
            saved_at=now,
        )

    @property
    def seed(self) -> int:
        """The run seed (resolved before the session begins)."""
        assert self.config.seed is not None
        return self.config.seed

    def elapsed(self) -> float:
        """Training time so far, across resumes."""
        return time.perf_counter() - self.start

    def normalizer(self) -> Normalizer | None:
        """What the policy is fed through now: the running statistics, frozen."""
        if self.observations is None:
            return None
        return self.observations.normalizer(self.config.policy.observation_clip)

    def playing(self) -> Backend:
        """The backend, its evaluations playing with the normaliser of now (if any)."""
        normalizer = self.normalizer()
        return self.backend if normalizer is None else Normalizing(self.backend, normalizer)

    def step(self, state: State, generation: int, watch: Stopwatch) -> tuple[State, Step]:
        """The method's step, its members playing with the statistics of the generations
        before; members that failed with ``on_error: stop`` stop the run after a
        checkpoint, so that `evo resume` can retry once the cause is fixed."""
        try:
            state, step = self.method.step(self.playing(), state, generation, watch)
        except MembersFailed as failed:
            self.write_events(failed.events, generation)
            self.checkpoint(failed.state)
            failed.evaluation.raise_for_errors(generation)
            raise
        if self.observations is not None:
            self.observe(step)
        return state, step

    def observe(self, step: Step) -> None:
        """Merge what a generation's members saw into the running statistics; its lineage
        keeps the statistics it played with and its own sums."""
        before = self.observations
        assert before is not None
        seen = getattr(step.cost, "observations", None)
        seen = seen if seen is not None else ObservationStats.zeros(len(before.sum))
        self.observations = before.merge(seen)
        if step.lineage is not None:
            step.lineage.update(before.arrays() | seen.arrays("observations."))

    def write_events(self, events: list[dict[str, Any]], generation: int | None) -> None:
        """What happened on the cluster during the step of index ``generation`` (None:
        outside a generation), logged with the generation's number (from 1)."""
        number = None if generation is None else generation + 1
        for record in events:
            self.folder.append_event(**record, generation=number)

    def metrics_line(
        self, generation: int, step: Step, state: State, watch: Stopwatch
    ) -> dict[str, Any]:
        """One line of ``metrics.jsonl``, for both modes: the step of index ``generation``
        (from 0, what seeds derive from) is written as generation ``generation + 1``."""
        finite = step.scores[np.isfinite(step.scores)]
        stats = {
            name: float(f(finite)) if finite.size else float("nan") for name, f in _STATS.items()
        }
        last = generation + 1 == self.method.generations
        tally = self.tally
        return {
            "generation": generation + 1,
            "evaluations": tally.evaluations,
            "episodes": tally.evaluations * self.problem.episodes_per_member(),
            "env_steps": tally.env_steps,
            "samples": self.method.samples(tally.evaluations, tally.env_steps),
            **stats,
            "failed": step.failed,
            "solution_fitness": step.solution_fitness,
            "best_so_far": state.best_fitness,
            "time_s": watch.mark - self.start,
            **{f"{lap}_s": watch.laps[lap] for lap in ("write", "ask", "evaluate", "tell")},
            **cost_columns(step.cost),
            **step.columns,
            **self.problem.record(self.method.solution(state), generation, last),
        }

    @contextlib.contextmanager
    def recording_stops(self) -> Iterator[None]:
        """Around the loop: an interrupt, a failed evaluation or lost workers end it with
        a ``stop`` event; an interrupt and lost workers after a checkpoint of the last
        whole generation, so that `evo resume` can go on from there."""
        folder = self.folder
        try:
            yield
        except KeyboardInterrupt:
            with deferred():  # a second Ctrl-C waits until the checkpoint is written
                self.save_committed()
                folder.append_event("stop", reason="interrupted", generations=self.done())
            raise
        except EvaluationError as exc:
            folder.append_event("stop", reason="error", generations=self.done(), message=str(exc))
            raise
        except SchedulerLostError as exc:
            self.save_committed()  # files only: the cluster is not needed for it
            folder.append_event(
                "stop", reason="scheduler_lost", generations=self.done(), message=str(exc)
            )
            raise SchedulerLostError(
                f"{exc}; a checkpoint after generation {self.done()} is written: start a "
                f"scheduler and workers, then `evo resume {folder.path} --scheduler ADDRESS`"
            ) from None
        except WorkersLostError as exc:
            self.save_committed()
            folder.append_event(
                "stop", reason="no_workers", generations=self.done(), message=str(exc)
            )
            raise

    def done(self) -> int:
        """Whole generations so far."""
        return -1 if self.committed is None else self.committed.state.generation

    def stop_reason(self, record: dict[str, Any], scored: np.ndarray) -> str | None:
        """Why to stop after this generation, if at all.

        A training score is a few episodes and easily lucky: when the solution
        reaches the target it must also reach it on fresh confirmation trials.
        """
        stop = self.config.stop
        score = record["solution_fitness"]
        score = record["fitness_max"] if score is None else score
        if stop.target_fitness is not None and score is not None and score >= stop.target_fitness:
            if not stop.confirm_episodes:
                return "target_fitness"
            # Seeds derive from the generation's index: its number (from 1) minus one.
            seeds = confirm_seeds(self.seed, record["generation"] - 1, stop.confirm_episodes)
            confirmed = self.problem.confirm(scored, seeds, self.evaluate_params)
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

    def point(self, state: State) -> Checkpoint:
        """What a checkpoint after ``state`` holds, as of now."""
        tally = Tally(self.tally.evaluations, self.tally.env_steps)
        return Checkpoint(state, tally, self.elapsed(), self.observations)

    def checkpoint(self, state: State) -> None:
        """Save everything needed to continue after ``state.generation`` generations."""
        self.save(self.point(state))

    def save(self, point: Checkpoint) -> None:
        """Write ``point`` as a checkpoint, log it and tell the callbacks."""
        path = write_checkpoint(self.folder, self.method.name, self.seed, point, self.config)
        self.saved = point.state.generation
        self.saved_at = time.perf_counter()
        self.folder.append_event("checkpoint", generation=point.state.generation, path=path.name)
        self.callbacks.on_checkpoint(point.state.generation, path)

    def commit(self, state: State) -> None:
        """``state`` ends a whole generation (logged, judged, checkpointed if due): what an
        interrupt saves, with the tallies and statistics of that moment."""
        self.committed = self.point(state)

    def checkpoint_due(self, state: State) -> bool:
        """Whether the loop checkpoints after ``state``: every ``checkpoint.every``
        generations, or once ``checkpoint.every_s`` seconds passed since the last one."""
        every, every_s = self.config.checkpoint.every, self.config.checkpoint.every_s
        if state.generation % every == 0:
            return True
        return every_s is not None and time.perf_counter() - self.saved_at >= every_s

    def save_committed(self) -> None:
        """Checkpoint the last whole generation, unless it is saved already (an interrupt:
        `evo resume` goes on from there, rerunning the generation it cut short)."""
        point = self.committed
        if point is not None and point.state.generation > self.saved:
            self.save(point)

    def evaluate_params(self, params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Return of ``params`` on each seed's episode, spread over the backend like members."""
        if len(seeds) == 0:
            return np.zeros(0)
        members = Members.build(np.zeros(len(seeds), dtype=np.int32), 0, 0.0)
        bases = np.asarray(params, dtype=np.float32)[None, :]
        evaluation = self.playing().evaluate(Population(bases, members), seeds[:, None], -1)
        self.write_events(evaluation.events, None)
        evaluation.raise_for_errors(-1)
        self.tally.env_steps += int(evaluation.steps.sum())
        return evaluation.fitness

    def finish(self, state: State, params: np.ndarray, reason: str) -> dict[str, Any]:
        """Final evaluation, ``best.npz`` and ``summary.json``."""
        training_s = self.elapsed()
        config, problem = self.config, self.problem
        seeds = final_seeds(config.final_eval.episodes)
        returns, extra = problem.final_scores(params, seeds, self.evaluate_params)
        mean = float(returns.mean()) if returns.size else float("nan")
        threshold = config.final_eval.threshold
        threshold = problem.reward_threshold if threshold is None else threshold
        clip = config.policy.observation_clip
        plays_with = {} if self.observations is None else policy_arrays(self.observations, clip)
        self.folder.write_best(params, problem.policy.to_json(), mean, **plays_with)
        self.folder.append_event("final_eval", episodes=int(returns.size), mean=mean)
        summary = {
            "format": FORMAT,
            "name": config.name,
            "seed": self.seed,
            "algorithm": self.method.name,
            **problem.summary_fields(),
            "num_params": problem.policy.num_params,
            "generations": state.generation,
            "evaluations": self.tally.evaluations,
            "env_steps": self.tally.env_steps,
            "samples": self.method.samples(self.tally.evaluations, self.tally.env_steps),
            "stop_reason": reason,
            "training_time_s": training_s,
            "best_fitness": state.best_fitness,
            **final_statistics(returns),
            "solve_threshold": threshold,
            "solved": bool(returns.size and threshold is not None and mean >= threshold),
            **extra,
        }
        summary["wall_time_s"] = time.perf_counter() - self.started
        self.folder.write_summary(summary)
        self.folder.append_event("finish", wall_time_s=summary["wall_time_s"])
        self.callbacks.on_stop(summary)
        return summary


def final_statistics(returns: np.ndarray) -> dict[str, Any]:
    """The summary's columns about the final evaluation's scores."""
    if not returns.size:
        nan = float("nan")
        return dict.fromkeys(("final_eval_mean", "final_eval_std"), nan) | {
            "final_eval_min": nan,
            "final_eval_max": nan,
            "final_eval_episodes": 0,
        }
    return {
        "final_eval_mean": float(returns.mean()),
        "final_eval_std": float(returns.std()),
        "final_eval_min": float(returns.min()),
        "final_eval_max": float(returns.max()),
        "final_eval_episodes": int(returns.size),
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
