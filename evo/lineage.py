"""Per-member lineage: what each generation's members were, where they came from, how they did.

The loop writes ``lineage/NNNNNN.npz`` after every generation (NNNNNN counts from 1, as
``generation`` in ``metrics.jsonl``): per member its record (base index, noise offset
into the shared noise table, scale, sign), its parent, fitness, episode steps, the
worker that evaluated it and its share of that task's time. From the lineage and the
checkpoints any member's parameters can be rebuilt exactly: load the newest checkpoint
at or before its generation (or start from the initial parameters, as the loop does),
replay the strategy's ask/tell with the logged fitness, ask once more and materialize
the member.

Generations are numbered from 1 here, as in the files and on the command line: ``GEN:ID``
is that number and the member's index (member 0 is the incumbent, if any). Only
replaying the method counts them from 0, as the loop's seeds do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evo.backends.base import Evaluation
from evo.config import load_config
from evo.errors import ConfigError, RunFolderError
from evo.methods import Method, Stopwatch, make_method
from evo.methods.evolution import (  # noqa: F401  (the lineage's columns, read here)
    CENTRE,
    MEMBER_COLUMNS,
    PARENTS,
    TIMING_COLUMNS,
    generation_record,
)
from evo.population import Population
from evo.problems.normalization import Normalizer, ObservationStats, policy_arrays
from evo.runformat import NOISE_TABLE_FORMAT
from evo.runlog import CONFIG, RunFolder
from evo.strategies.base import State


def read_generation(folder: RunFolder, generation: int) -> dict[str, np.ndarray]:
    """One generation's lineage (from 1), checked for the columns this module reads."""
    record = folder.read_lineage(generation)
    where = folder.lineage_path(generation)
    columns = member_columns(record)
    missing = [k for k in ("bases", "incumbent", "workers", *columns) if k not in record]
    if missing:
        raise RunFolderError(
            f"{where}: the lineage of generation {generation} lacks {missing[0]!r}"
        )
    members = len(record["fitness"]) if record["fitness"].ndim == 1 else -1
    for name, kinds, ndim in (*((c, "biuf", 1) for c in columns), *_LINEAGE_SHAPES):
        array = record.get(name)
        if array is None and name not in columns:
            continue  # "generation", "spread": absent from some older files
        wrong = array.dtype.kind not in kinds or array.ndim != ndim
        if wrong or (name in columns and (members < 1 or len(array) != members)):
            found = f"{array.dtype}{list(array.shape)}"
            raise RunFolderError(f"{where}: {name!r} is {found}, not what evo writes")
    if str(record["bases"]) not in (CENTRE, PARENTS):
        raise RunFolderError(f"{where}: 'bases' is {str(record['bases'])[:40]!r}")
    return record


def member_columns(record: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The per-member columns of a generation's lineage: a folder of format 2 names each
    member's noise by a generator seed (``noise_seed``), later ones by an offset into the
    noise table (``noise_offset``)."""
    if "noise_seed" in record and "noise_offset" not in record:
        return tuple("noise_seed" if c == "noise_offset" else c for c in MEMBER_COLUMNS)
    return MEMBER_COLUMNS


# The lineage's other arrays: their dtype kinds and dimensions (the member columns: one
# number a member, see member_columns).
_LINEAGE_SHAPES = (
    ("generation", "iu", 0),
    ("incumbent", "b", 0),
    ("spread", "b", 0),
    ("bases", "U", 0),
    ("workers", "U", 1),
)


def recorded_generations(folder: RunFolder) -> int:
    """How many generations the lineage covers (up to its newest; a run older than the
    lineage and resumed has it only from the resume on)."""
    recorded = folder.lineage_generations()
    if not recorded:
        metrics = folder.read_metrics()
        if metrics and metrics[0].get("mode") == "gradient":
            raise RunFolderError(
                f"{folder.path}: a gradient-mode run trains one network, it has no population "
                "and no lineage"
            )
        raise RunFolderError(
            f"{folder.path}: no lineage recorded (a run made before evo recorded lineage)"
        )
    return recorded[-1]


def parse_member(text: str, option: str = "--member") -> tuple[int, int]:
    """``GEN:ID`` (generation from 1, member index from 0) -> (generation, member)."""
    generation, colon, member = text.partition(":")
    if not colon or not generation.strip().isdigit() or not member.strip().isdigit():
        raise ConfigError(f"{option}: expected GEN:ID (e.g. 12:3), found {text!r}")
    if int(generation) < 1:
        raise ConfigError(f"{option}: generations count from 1, found {text!r}")
    return int(generation), int(member)


def check_generation(folder: RunFolder, generation: int, option: str = "--generation") -> None:
    """A generation (from 1) whose lineage exists, or a one-line error naming the range."""
    count = recorded_generations(folder)
    if not 1 <= generation <= count:
        raise ConfigError(
            f"{option}: expected a generation from 1 to {count} (the lineage recorded), "
            f"found {generation}"
        )


def check_member(folder: RunFolder, generation: int, member: int, option: str = "--member") -> None:
    """A member that exists in a recorded generation, or a one-line error naming the range."""
    check_generation(folder, generation, option)
    size = len(read_generation(folder, generation)["fitness"])
    if not 0 <= member < size:
        raise ConfigError(
            f"{option}: generation {generation} has members 0 to {size - 1}, found {member}"
        )


def best_member(folder: RunFolder) -> tuple[int, int, float] | None:
    """(generation, member, fitness) of the best member of the run: the first to reach
    the highest fitness, as the strategies count it (a failed member never); None if
    every member failed."""
    best: tuple[int, int, float] | None = None
    for generation in range(1, recorded_generations(folder) + 1):
        fitness = read_generation(folder, generation)["fitness"]
        fitness = np.where(np.isnan(fitness), -np.inf, fitness)
        member = int(np.argmax(fitness))
        if fitness[member] > (-np.inf if best is None else best[2]):
            best = (generation, member, float(fitness[member]))
    return best


@dataclass(frozen=True)
class Step:
    """One ancestor: a member, its fitness and how it was made (generation from 1)."""

    generation: int
    member: int
    fitness: float
    steps: int
    made_from: str
    parent: tuple[int, int] | None  # the next ancestor (generation, member); None: none


def made_from(record: dict[str, np.ndarray], member: int) -> str:
    """How a member was made, in words."""
    generation = int(record["generation"])
    scale, sign = float(record["scale"][member]), int(record["sign"][member])
    if "noise_offset" in record:
        drawn = f"noise(offset {record['noise_offset'][member]})"
    else:  # a folder of format 2: a generator seeded per member
        drawn = f"noise(seed {record['noise_seed'][member]})"
    # With a spread (PGPE, SNES) the noise is scaled per coordinate by the deviations first.
    if bool(record.get("spread", False)):
        drawn = f"(stdev * {drawn})"
    noise = f" {'+' if sign > 0 else '-'} {scale:.4g} x {drawn}"
    if str(record["bases"]) == CENTRE:
        if int(record["base_index"][member]) > 0:  # dense members (xNES): a vector each
            return f"a sample of generation {generation}'s search distribution, sent whole"
        if scale == 0:
            if generation == 1:
                return f"the centre of generation {generation}: the initial parameters"
            return (
                f"the centre of generation {generation}: the centre of generation "
                f"{generation - 1} updated from all of generation {generation - 1}'s members"
            )
        return f"the centre of generation {generation}{noise}"
    parent_generation = int(record["parent_generation"][member])
    if parent_generation >= 0:
        parent = f"{parent_generation}:{int(record['parent_member'][member])}"
    elif generation == 1:
        parent = "the initial parameters"
    else:  # a parent selected before the run recorded lineage (resumed from an older evo)
        parent = "an unrecorded parent"
    return f"a copy of {parent} (elite)" if scale == 0 else f"{parent}{noise}"


def ancestry(folder: RunFolder, generation: int, member: int) -> list[Step]:
    """The member and its ancestors back to the initial parameters, newest first.

    A GA member's parent is the member of an earlier generation whose vector was its
    base. An ES member's base is its generation's centre, evaluated as member 0, and a
    centre comes from the previous centre updated from all of the previous generation's
    members: the ancestry runs through the centres.
    """
    steps: list[Step] = []
    recorded = set(folder.lineage_generations())
    where: tuple[int, int] | None = (generation, member)
    while where is not None:
        generation, member = where
        if generation not in recorded:
            break  # recorded only from a later generation on (an older run, resumed)
        record = read_generation(folder, generation)
        where = _parent(record, generation, member)
        steps.append(
            Step(
                generation,
                member,
                float(record["fitness"][member]),
                int(record["steps"][member]),
                made_from(record, member),
                where,
            )
        )
    return steps


def _parent(record: dict[str, np.ndarray], generation: int, member: int) -> tuple[int, int] | None:
    if str(record["bases"]) == CENTRE:
        if record["scale"][member] != 0:  # a perturbation of this generation's centre
            return (generation, 0) if bool(record["incumbent"]) else None
        return (generation - 1, 0) if generation > 1 else None
    parent_generation = int(record["parent_generation"][member])
    if parent_generation < 0:
        return None
    return parent_generation, int(record["parent_member"][member])


def rows(folder: RunFolder) -> Iterator[dict[str, Any]]:
    """Every member of every recorded generation as a flat row (for CSV), generation
    and parent generation counted from 1 as in ``metrics.jsonl`` (-1: no parent member),
    worker by name."""
    for generation in folder.lineage_generations():
        record = read_generation(folder, generation)
        workers = [str(w) for w in record["workers"]]
        for member in range(len(record["fitness"])):
            row: dict[str, Any] = {"generation": generation, "member": member}
            for column in member_columns(record):
                value = record[column][member]
                if column == "worker":
                    value = workers[value] if 0 <= value < len(workers) else ""
                elif value.dtype == np.float32:  # its shortest text: 0.1, not 0.10000000149
                    value = float(str(value))
                row[column] = value.item() if isinstance(value, np.generic) else value
            yield row


@dataclass(frozen=True)
class RebuiltMember:
    """A member's parameters, rebuilt, and how (generations counted from 1)."""

    generation: int
    member: int
    params: np.ndarray  # (num_params,) float32
    policy_spec: str  # JSON, as in best.npz
    fitness: float  # its fitness as logged
    checkpoint: int | None  # generations done at the checkpoint it started from; None: none
    replayed: int  # generations replayed from there
    # The observation statistics its generation played with, as best.npz records them
    # (empty: the run does not normalise observations).
    normalization: dict[str, np.ndarray] = field(default_factory=dict)


def rebuild_member(folder: RunFolder, generation: int, member: int) -> RebuiltMember:
    """Member ``member`` of generation ``generation`` (from 1), rebuilt bit for bit."""
    from evo.problems import make_problem

    check_member(folder, generation, member)
    if folder.format < NOISE_TABLE_FORMAT:
        raise RunFolderError(
            f"{folder.path}: a run folder of format {folder.format}, whose members' noise came "
            "from a generator seeded per member, which this evo no longer draws; rerun it with: "
            f"evo run {folder.path / CONFIG}"
        )
    # Rebuilt in this process: the run's TLS files need not exist here any more.
    config = load_config(folder.path / CONFIG, ["backend.security=null"])
    if config.seed is None:
        raise RunFolderError(f"{folder.path / CONFIG}: no seed recorded")
    problem = make_problem(config)
    method = make_method(config, problem)
    # The checkpoint after generation - 1 at the latest; the method steps by index (from 0).
    state, checkpoint = _newest_checkpoint(folder, method, generation - 1)
    if state is None:  # none left at or before it: from the start, as the loop does
        state = method.init(config.seed)
    start = state.generation
    replay = ReplayBackend(folder)
    for index in range(start, generation):
        state, step = method.step(replay, state, index, Stopwatch())
    population, record = step.population, replay.record
    stats = ObservationStats.from_arrays(record)
    clip = config.policy.observation_clip
    return RebuiltMember(
        generation=generation,
        member=member,
        params=population.params([member])[0],
        policy_spec=problem.policy.to_json(),
        fitness=float(record["fitness"][member]),
        checkpoint=checkpoint,
        replayed=generation - 1 - start,
        normalization={} if stats is None else policy_arrays(stats, clip),
    )


def member_arrays(rebuilt: RebuiltMember) -> dict[str, np.ndarray]:
    """A rebuilt member as ``.npz`` arrays, laid out like ``best.npz`` (``evo replay --params``)."""
    return {
        "params": rebuilt.params.astype(np.float32),
        "policy_spec": np.array(rebuilt.policy_spec),
        "fitness": np.float64(rebuilt.fitness),
        "generation": np.int64(rebuilt.generation),
        "member": np.int64(rebuilt.member),
        **rebuilt.normalization,
    }


class ReplayBackend:
    """Evaluates nothing: a generation's fitness is what its lineage recorded, for the
    same members (checked), so that replaying the method rebuilds the run's states."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.record: dict[str, np.ndarray] = {}

    def evaluate(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None = None,
    ) -> Evaluation:
        """The recorded fitness of the generation of index ``generation`` (from 0, as the
        method steps; its members played with the normaliser its lineage records)."""
        generation += 1  # the generation's number, as the lineage names it
        self.record = read_generation(self.folder, generation)
        _check_same_members(self.folder, population, self.record, generation)
        fitness = np.array(self.record["fitness"], dtype=np.float64)
        return Evaluation(fitness, self.record["steps"], 0.0, 0, 0, 0, 0)


def _newest_checkpoint(
    folder: RunFolder, method: Method, generation: int
) -> tuple[State | None, int | None]:
    """The state of the newest checkpoint saved after at most ``generation`` generations
    (after generation ``generation``, counted from 1)."""
    found = folder.newest_checkpoint(generation, method)
    if found is None:
        return None, None
    state, meta, _ = found
    return state, int(meta["generation"])


def _check_same_members(
    folder: RunFolder, population: Population, record: dict[str, np.ndarray], generation: int
) -> None:
    """The replayed generation must ask for exactly the members its lineage recorded."""
    members = population.members
    for column in ("base_index", "noise_offset", "scale", "sign"):
        if not np.array_equal(getattr(members, column), record[column]):
            raise RunFolderError(
                f"{folder.path}: replaying generation {generation} gives other members "
                f"({column}) than its lineage records (made by another version of evo?)"
            )
