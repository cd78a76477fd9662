"""Checkpoints of a run: what one holds (the method's state, the tallies, the time
spent, the observation statistics) and how it is written and found again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evo.config import ExperimentConfig
from evo.errors import RunFolderError
from evo.methods import Method
from evo.problems import Problem
from evo.problems.normalization import ObservationStats
from evo.runlog import RunFolder, state_arrays
from evo.strategies.base import State


@dataclass
class Tally:
    """Running totals over the generations."""

    evaluations: int = 0
    env_steps: int = 0


def initial_observations(config: ExperimentConfig, problem: Problem) -> ObservationStats | None:
    """The observation statistics of a run before its first generation (None: the run
    does not normalise observations)."""
    if not config.policy.normalize_observations:
        return None
    return ObservationStats.zeros(problem.policy.obs_dim)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Checkpoint:
    """A saved point of a run: the method's state, the tallies, the time spent, and the
    observation statistics (None: the run does not normalise observations)."""

    state: State
    tally: Tally
    elapsed_s: float
    observations: ObservationStats | None = None

    @classmethod
    def start(cls, state: State, config: ExperimentConfig, problem: Problem) -> Checkpoint:
        """The point a run starts from: ``state``, nothing counted or seen yet."""
        return cls(state, Tally(), 0.0, initial_observations(config, problem))

    @classmethod
    def latest(cls, folder: RunFolder, method: Method) -> Checkpoint:
        """The newest checkpoint the metrics log has caught up with."""
        found = folder.newest_checkpoint(len(folder.read_metrics()), method)
        if found is not None:
            state, meta, arrays = found
            tally = Tally(meta["evaluations"], meta["env_steps"])
            observations = ObservationStats.from_arrays(arrays)
            return cls(state, tally, float(meta["elapsed_s"]), observations)
        raise RunFolderError(f"{folder.path}: no checkpoint to resume from")


def write_checkpoint(
    folder: RunFolder, strategy: str, seed: int, point: Checkpoint, config: ExperimentConfig
) -> Path:
    """Save ``point`` into ``folder``'s checkpoints (keeping ``checkpoint.keep``); the path
    of its metadata."""
    arrays = {f"state.{k}": v for k, v in state_arrays(point.state).items()}
    if point.observations is not None:
        arrays.update(point.observations.arrays())
    meta = {
        "strategy": strategy,
        "seed": seed,
        "evaluations": point.tally.evaluations,
        "env_steps": point.tally.env_steps,
        "elapsed_s": point.elapsed_s,
    }
    return folder.save_checkpoint(point.state.generation, arrays, meta, config.checkpoint.keep)
