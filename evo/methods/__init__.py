"""How a run improves its network: evolution, or gradient training of the same network."""

from __future__ import annotations

from evo.config import ExperimentConfig
from evo.datasets import dataset_info
from evo.errors import ConfigError
from evo.methods.base import MembersFailed, Method, Step, Stopwatch
from evo.methods.evolution import Evolution
from evo.methods.gradient.rl import PolicyGradientTrainer, PPOTrainer
from evo.methods.gradient.trainer import SupervisedTrainer
from evo.problems.base import Problem
from evo.strategies import make_strategy


def make_method(config: ExperimentConfig, problem: Problem) -> Method:
    """A strategy on the problem (``mode: evolution``) or, in gradient mode, the trainer:
    supervised on a data set, else policy gradient on the env."""
    seed = config.seed or 0
    if config.mode == "evolution":
        strategy = make_strategy(config.algorithm)
        return Evolution(strategy, problem, seed, config.generations, config.env)
    if config.data is not None:
        info = dataset_info(config.data.name)
        trainer = SupervisedTrainer(config, problem.policy, info.train_size)  # type: ignore[arg-type]
        if trainer.problem.steps_per_epoch < 1:
            raise ConfigError(
                f"gradient.batch_size: expected at most {info.train_size} (the training "
                f"examples of {info.name!r}), found {config.gradient.batch_size}"
            )
        return trainer  # type: ignore[return-value]
    if config.gradient.method == "ppo":
        return PPOTrainer(config, problem)  # type: ignore[arg-type,return-value]
    return PolicyGradientTrainer(config, problem)  # type: ignore[arg-type,return-value]


__all__ = ["Evolution", "MembersFailed", "Method", "Step", "Stopwatch", "make_method"]
