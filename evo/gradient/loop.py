"""The round loop of gradient training: plan -> compute (backend) -> reduce and step ->
log -> checkpoint, the evolution loop's shape, writing the same run folder.

A round is one synchronous step (or, with local SGD, H local steps and an
average; with policy gradient, a batch of episodes and one step). Its
``metrics.jsonl`` line has the evolution line's keys, the round's scores in
the fitness columns (minus the batch loss on a data set, episode returns on an
env), plus ``mode: gradient``, ``loss``, ``accuracy`` and ``samples``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from evo.backends import TaskRun
from evo.errors import ConfigError
from evo.gradient.trainer import GradientState, SupervisedTrainer
from evo.loop import _STATS, Checkpoint, Experiment, clock_columns, cost_columns
from evo.seeding import init_rng


def make_trainer(config: Any, problem: Any) -> Any:
    """The trainer for a ``mode: gradient`` config: supervised on a data set, else
    policy gradient on the env."""
    if getattr(config, "data", None) is not None:
        from evo.datasets import dataset_info

        info = dataset_info(config.data.name)
        trainer = SupervisedTrainer(config, problem.policy, info.train_size)
        if trainer.problem.steps_per_epoch < 1:
            raise ConfigError(
                f"gradient.batch_size: expected at most {info.train_size} (the training "
                f"examples of {info.name!r}), found {config.gradient.batch_size}"
            )
        return trainer
    from evo.gradient.rl import PolicyGradientTrainer, PPOTrainer

    if config.gradient.method == "ppo":
        return PPOTrainer(config, problem)
    return PolicyGradientTrainer(config, problem)


class GradientExperiment(Experiment):
    """One gradient-training run in progress: the round loop and what it writes."""

    def run(self, resume: Checkpoint | None = None) -> dict[str, Any]:
        """Rounds from the start or a checkpoint, then the final evaluation."""
        config, trainer = self.config, self.strategy
        if resume is None:
            rng = init_rng(self.seed)
            state, elapsed = trainer.init(self.problem.policy.initial_params(rng)), 0.0
        else:
            state, self.tally, elapsed = resume.state, resume.tally, resume.elapsed_s
        start, reason = time.perf_counter() - elapsed, "generations"
        rounds = self.generations = trainer.rounds
        self.reporter.start(config)
        clock = [time.perf_counter()]
        with self.recording_stops(lambda: state, start):
            for round_ in range(state.generation, rounds):
                # write_s: from the end of the previous tell, through its writes, to now
                clock = [clock[-1], time.perf_counter()]
                before = state  # the parameters the round's score is of
                state, info, run, cost = trainer.round(self.backend, state)
                self.log_events(run, round_)
                # the round's split: plan (ask), its tasks (evaluate), reduce and step (tell)
                clock += [clock[1] + cost.ask_s, clock[1] + cost.ask_s + cost.evaluate_s]
                clock.append(time.perf_counter())
                record = self.round_metrics(round_, run, state, info, clock, start)
                self.folder.append_metrics(record)
                self.reporter.generation(record, rounds)
                early = self.stop_reason(record, trainer.solution(before))
                if state.generation % config.checkpoint.every == 0:
                    self.checkpoint(state, time.perf_counter() - start)
                if early:
                    reason = early
                    break
        if state.generation % config.checkpoint.every:
            self.checkpoint(state, time.perf_counter() - start)
        self.folder.append_event("stop", reason=reason, generations=state.generation)
        params = np.asarray(trainer.solution(state), dtype=np.float32)
        return self.finish(state, params, reason, time.perf_counter() - start)

    def round_metrics(
        self,
        round_: int,
        run: TaskRun,
        state: GradientState,
        info: dict[str, Any],
        clock: list[float],
        start: float,
    ) -> dict[str, Any]:
        """One line of ``metrics.jsonl``, in the evolution line's shape."""
        scores = info.pop("scores")
        examples = int(info.pop("examples", 0))
        episodes = int(info.pop("episodes", 0))
        env_steps = int(info.pop("env_steps", 0))
        self.tally.evaluations += examples or episodes
        self.tally.env_steps += env_steps
        stats = {name: float(f(scores)) for name, f in _STATS.items()}
        record: dict[str, Any] = {
            "generation": round_,
            "mode": "gradient",
            "evaluations": self.tally.evaluations,
            "episodes": episodes,
            "env_steps": self.tally.env_steps,
            "samples": self.samples(),
            **stats,
            "failed": 0,
            "solution_fitness": float(np.mean(scores)),
            "best_so_far": state.best_fitness,
            **clock_columns(clock, start),
            **cost_columns(run),
            "longest_task_s": run.longest_task_s,
            **info,
        }
        record.update(self.data_metrics(round_, state))
        return record

    def samples(self) -> int:
        """Forward-equivalent passes so far: a data set's examples count three times (a
        backward pass costs about two forward ones); on an env, env steps."""
        if self.problem.data is not None:
            return self.tally.evaluations * self.strategy.forward_per_sample
        return self.tally.env_steps
