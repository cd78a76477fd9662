"""How a run improves its network: evolution, or gradient training of the same network."""

from __future__ import annotations

import os

from evo.config import ExperimentConfig
from evo.datasets import dataset_info
from evo.errors import ConfigError
from evo.methods.base import MembersFailed, Method, Step, Stopwatch
from evo.methods.evolution import Evolution
from evo.methods.gradient.ppo import PPOTrainer
from evo.methods.gradient.rl import PolicyGradientTrainer
from evo.methods.gradient.trainer import SupervisedTrainer
from evo.problems.base import Problem
from evo.strategies import make_strategy


def make_method(config: ExperimentConfig, problem: Problem) -> Method:
    """A strategy on the problem (``mode: evolution``) or, in gradient mode, the trainer:
    supervised on a data set, else policy gradient on the env."""
    check_size(config, problem.policy.num_params)
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


# Strategies whose members travel whole (dense samples), and those with a full matrix.
_WHOLE_MEMBERS = {"cma_es", "sep_cma_es", "xnes"}
_FULL_MATRIX = {"cma_es", "xnes"}


def check_size(config: ExperimentConfig, num_params: int) -> None:
    """Refuse, before anything runs, a run whose orchestrator could never hold its state:
    the parameter vectors, the member records, a strategy's dense samples and matrices
    (a ConfigError naming the estimate and this machine's memory)."""
    population = int(getattr(config.algorithm, "population_size", 1) or 1)
    name = config.algorithm.name if config.mode == "evolution" else "gradient"
    need = 16 * 8 * num_params + 64 * population
    if name in _WHOLE_MEMBERS:
        need += 8 * population * num_params
    if name in _FULL_MATRIX:
        need += 3 * 8 * num_params * num_params
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > memory:
        raise ConfigError(
            f"policy: {num_params:,} parameters with population {population:,} ({name}) need "
            f"about {need / 2**30:,.0f} GiB in the orchestrator; this machine has "
            f"{memory / 2**30:,.0f} GiB"
        )


__all__ = ["Evolution", "MembersFailed", "Method", "Step", "Stopwatch", "check_size", "make_method"]
