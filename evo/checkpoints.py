"""Checkpoints of a run: what one holds (the method's state, the tallies, the time
spent, the observation statistics) and how it is written and found again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evo.config import ExperimentConfig
from evo.config.changes import computing_keys, edits
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
    config: dict[str, Any] | None = None  # the computing keys it was saved with (None: unknown)

    @classmethod
    def start(cls, state: State, config: ExperimentConfig, problem: Problem) -> Checkpoint:
        """The point a run starts from: ``state``, nothing counted or seen yet."""
        return cls(state, Tally(), 0.0, initial_observations(config, problem))

    @classmethod
    def latest(
        cls, folder: RunFolder, method: Method, config: ExperimentConfig | None = None
    ) -> Checkpoint:
        """The newest checkpoint the metrics log has caught up with; with ``config``, one
        that was saved with the same computing keys (an edited config.yaml is refused)."""
        found = folder.newest_checkpoint(len(folder.read_metrics()), method)
        if found is None:
            raise RunFolderError(f"{folder.path}: no checkpoint to resume from")
        state, meta, arrays = found
        where = folder.path / "checkpoints" / f"gen-{meta['generation']:06d}.json"
        try:
            tally = Tally(int(meta["evaluations"]), int(meta["env_steps"]))
            elapsed = float(meta["elapsed_s"])
            recorded = meta.get("config")
            fresh = method.init(int(meta["seed"]))
            observations = ObservationStats.from_arrays(arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{where}: not a checkpoint of this run: {exc}") from None
        if recorded is not None and not isinstance(recorded, dict):
            raise RunFolderError(f"{where}: 'config' is not a mapping")
        if config is not None and recorded is not None and (changed := edits(recorded, config)):
            raise RunFolderError(
                f"{folder.path / 'config.yaml'}: edited since its checkpoint of generation "
                f"{state.generation} ({'; '.join(changed)}); resume runs the config it "
                "started with (--set changes generations, stop.*, backend.*, ...)"
            )
        _check_like(where, state, fresh)
        if state.generation != meta["generation"]:  # the arrays of another checkpoint
            raise RunFolderError(
                f"{where}: its state is after generation {state.generation}, its name says "
                f"{meta['generation']}"
            )
        return cls(state, tally, elapsed, observations, recorded)


def _check_like(where: Path, state: State, fresh: State) -> None:
    """A checkpoint's state must have the fields of the state the config's method starts
    from, with their dtypes and dimensions, and as many parameters wherever the fresh
    state has an axis of them (other axes may change: the members an xNES generation
    asked, a GA's parents as they are selected): a corrupt or foreign
    checkpoint is a bad folder, found before anything runs."""
    saved, expected = state_arrays(state), state_arrays(fresh)
    width = expected["best_params"].shape[-1]  # the number of parameters
    optional = {f.name for f in dataclasses.fields(fresh) if f.default is None}
    for name, want in expected.items():
        got = saved.get(name)
        if got is None and name in optional:  # a field older checkpoints lack
            continue
        if (
            got is None
            or got.dtype != want.dtype
            or got.ndim != want.ndim
            or (want.ndim > 0 and want.shape[-1] == width and got.shape[-1] != width)
        ):
            found = "nothing" if got is None else f"{got.dtype}{list(got.shape)}"
            raise RunFolderError(
                f"{where}: state.{name} is {found}, the config's run has "
                f"{want.dtype}{list(want.shape)}"
            )


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
        "config": computing_keys(config),  # so that `evo resume` notices an edited config
    }
    return folder.save_checkpoint(point.state.generation, arrays, meta, config.checkpoint.keep)
