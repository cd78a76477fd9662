"""The backend protocol and what every backend shares: chunking and reassembly."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from evo.errors import EvaluationError
from evo.population import Members, Population
from evo.problems.base import Chunk, ChunkResult, Problem, join_episodes
from evo.problems.normalization import Normalizer, ObservationStats, generation_stats


@dataclass(frozen=True)
class Evaluation:
    """A generation's results in member order, with what it cost."""

    fitness: np.ndarray  # (n,) float64, mean episode return per member
    steps: np.ndarray  # (n,) int64, env steps per member
    compute_s: float  # time spent inside evaluation tasks, summed over tasks
    tasks: int
    bytes_sent: int  # payload the orchestrator serialised for this generation
    bytes_received: int
    workers: int
    errors: dict[int, str] = field(default_factory=dict)  # failed members -> message
    longest_task_s: float = 0.0  # the critical path of the tasks, if they ran in parallel
    transfer_bytes: int = 0  # bytes Dask's workers served, by their own counters
    retried: int = 0  # tasks submitted again (straggler backups, split chunks)
    events: list[dict] = field(default_factory=list)  # what happened on the cluster
    # Where and how long, per member (for the lineage): the task that evaluated it, the
    # worker that ran the task (an index into ``worker_names``) and the member's share of
    # the task's time (task seconds / its members: a task runs its members in lockstep).
    worker_names: tuple[str, ...] = ()
    member_worker: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    member_task: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    member_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    observations: ObservationStats | None = None  # what the members were fed, if normalised

    def raise_for_errors(self, generation: int) -> None:
        """Raise :class:`EvaluationError` naming the first failed member, if any."""
        if self.errors:
            member = min(self.errors)
            where = "the final evaluation" if generation < 0 else f"generation {generation + 1}"
            raise EvaluationError(
                f"evaluation failed at {where}, member {member}: {self.errors[member]}"
                + (f" (and {len(self.errors) - 1} more members)" if len(self.errors) > 1 else "")
            )


@dataclass(frozen=True)
class TaskRun:
    """Results of a batch of tasks in submission order, with what they cost."""

    results: list  # one per payload, in order
    compute_s: float  # time spent inside the tasks, summed
    longest_task_s: float
    workers: int
    bytes_sent: int
    bytes_received: int
    transfer_bytes: int = 0
    retried: int = 0
    events: list[dict] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        """How many tasks ran (one result each)."""
        return len(self.results)

    @classmethod
    def merge(cls, runs: list[TaskRun]) -> TaskRun:
        """Several batches of tasks (one round of several steps) as one."""
        return cls(
            results=[r for run in runs for r in run.results],
            compute_s=sum(run.compute_s for run in runs),
            longest_task_s=sum(run.longest_task_s for run in runs),  # one after another
            workers=max((run.workers for run in runs), default=0),
            bytes_sent=sum(run.bytes_sent for run in runs),
            bytes_received=sum(run.bytes_received for run in runs),
            transfer_bytes=sum(run.transfer_bytes for run in runs),
            retried=sum(run.retried for run in runs),
            events=[e for run in runs for e in run.events],
        )

    @classmethod
    def local(cls, results: list) -> TaskRun:
        """Results computed in this process: no traffic."""
        seconds = [r.seconds for r in results]
        return cls(results, sum(seconds), max(seconds, default=0.0), 1, 0, 0)


class Backend(Protocol):
    """Evaluates populations; ``close()`` releases whatever it started."""

    def describe(self) -> str:
        """One line for the console: where evaluation runs."""
        ...

    def evaluate(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None = None,
    ) -> Evaluation:
        """Fitness of every member, in member order (playing with ``normalizer``, if any)."""
        ...

    def start_round(self) -> int:
        """A gradient round begins: the worker threads its tasks will use (1: in this
        process, where a Dask backend may run a round)."""
        ...

    def map(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
    ) -> TaskRun:
        """``function(problem, shared, payload)`` for every payload, results in order;
        each result has ``seconds``, ``worker``, ``transfer_total`` and ``nbytes``."""
        ...

    def persist(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
    ) -> list:
        """Start ``function(problem, shared, payload)`` for every payload and keep the
        results where they are computed: references that later payloads may hold (in a
        tuple), so tasks run where their input is. Release them with :meth:`release`."""
        ...

    def release(self, refs: list) -> None:
        """Let go of what :meth:`persist` kept."""
        ...

    def close(self) -> None:
        """Stop what the backend started (clusters, clients)."""
        ...


class Normalizing:
    """A backend whose evaluations all play with one observation normaliser (a generation's,
    frozen), so that the method asking for them need not know about it."""

    def __init__(self, backend: Backend, normalizer: Normalizer) -> None:
        self.backend, self.normalizer = backend, normalizer

    def evaluate(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None = None,
    ) -> Evaluation:
        """The backend's evaluation, with this normaliser unless told another."""
        normalizer = self.normalizer if normalizer is None else normalizer
        return self.backend.evaluate(population, episode_seeds, generation, normalizer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)  # threads, map, describe, ...: the backend's own


TASKS_PER_SLOT = 4  # at most this many tasks per worker thread and generation
TARGET_TASK_S = 0.1  # below this much work a task is mostly scheduling overhead
MIN_SPLIT_S = 0.01  # below this much work in a whole generation, one task does it all
IN_PROCESS = "local"  # the worker name of a task run in this process (no Dask worker)


def task_count(work_s: float | None, slots: int, batched: bool = False) -> int:
    """How many tasks to cut a generation into, from its expected work in CPU-seconds.

    Episode lengths vary a lot (a crash ends early, a careful policy runs to the
    step limit), and with one task per worker thread, threads sit idle waiting
    for the longest one (LunarLander: 49% of worker time busy with 2 tasks a
    thread, 85% with 4). So up to four tasks per thread, as long as each holds
    at least ~100 ms of work (a Dask task costs a few ms); at least one per
    thread unless the whole generation is too small to be worth splitting.
    Before anything is measured (``work_s`` None): four per thread.

    A ``batched`` problem (an env stepped in lockstep) gets one task per thread:
    a lockstep step costs nearly the same for 60 cars as for 500, so cutting a
    batch multiplies the work (race track, 65 members x 8 tracks: 9 tasks took
    2.5x the CPU time of one). Under ~100 ms of work per thread, one task: its
    halves would each cost nearly the whole (CartPole, 64 lanes: a task of half
    the lanes on a worker took as long as the whole batch in process).
    """
    if slots <= 0:
        return 1  # in process: one task, the largest lockstep batch
    per_slot_cap = 1 if batched else TASKS_PER_SLOT
    if work_s is None:
        return per_slot_cap * slots
    if work_s < MIN_SPLIT_S or (batched and work_s < slots * TARGET_TASK_S):
        return 1
    per_slot = int(work_s / slots / TARGET_TASK_S)
    return slots * max(1, min(per_slot_cap, per_slot))


def member_groups(members: Members) -> np.ndarray:
    """Group number of each member: members that share a noise vector (an antithetic
    pair, consecutive) share a group. Kept in one task, the pair's noise is drawn once."""
    offsets, scaled = members.noise_offset, members.scale != 0
    same = (offsets[1:] == offsets[:-1]) & scaled[1:] & scaled[:-1]
    return np.concatenate([[0], np.cumsum(~same)])


def plan_chunks(
    members: Members,
    chunk_size: Literal["auto"] | int,
    slots: int,
    work_s: float | None = None,
    batched: bool = False,
) -> list[np.ndarray]:
    """Member indices per task, strided (groups ``i::n``) so costly members spread out.

    ``auto`` sizes tasks from the expected work (:func:`task_count`); a number
    caps the members per task: ``ceil(size / chunk_size)`` tasks. Members that
    share a noise vector stay together, unless that would make too few tasks.
    """
    size = len(members)
    if chunk_size == "auto":
        count = task_count(work_s, slots, batched)
    else:
        count = math.ceil(size / chunk_size)
    return strided_plan(members, count)


def strided_plan(members: Members, count: int) -> list[np.ndarray]:
    """Member indices of ``count`` tasks (at most one per member), groups ``i::count``."""
    size = len(members)
    count = max(1, min(count, size))
    groups = member_groups(members)
    if count > groups[-1] + 1:  # more tasks asked for than pairs: split the pairs too
        groups = np.arange(size)
    task = groups % count
    order = np.argsort(task, kind="stable")  # ascending member order within each task
    return np.split(order, np.cumsum(np.bincount(task, minlength=count))[:-1])


def make_chunks(
    population: Population,
    episode_seeds: np.ndarray,
    plan: list[np.ndarray],
    normalizer: Normalizer | None = None,
) -> list[Chunk]:
    """The tasks' payloads for a chunk plan."""
    members = population.members
    return [
        Chunk(indices, members.take(indices), episode_seeds[indices], normalizer)
        for indices in plan
    ]


def episode_blocks(
    problem: Problem, episode_seeds: np.ndarray, count: int, normalizer: Normalizer | None
) -> int:
    """Into how many blocks of episodes to cut a generation of ``count`` tasks (1: none).

    When every member plays the same episodes (common seeds: on the race track, the same
    tracks), a task of all the members on some of the episodes beats one of some members
    on all of them: a worker sets up (builds the tracks of) only its own episodes, and the
    lockstep batch keeps every member, so the forward pass, vectorised over members, does
    not pay its fixed cost per row twice over. Blocks of equal size only (a worker with
    twice the episodes would have twice the work), and none under a normaliser, whose
    observation sums add a member's episodes in one task.
    """
    episodes = episode_seeds.shape[1]
    if not problem.splits_episodes or normalizer is not None or count <= 1 or episodes <= 1:
        return 1
    if not (episode_seeds == episode_seeds[:1]).all():
        return 1
    return max(d for d in range(1, count + 1) if episodes % d == 0 and count % d == 0)


def plan_tasks(
    problem: Problem,
    population: Population,
    episode_seeds: np.ndarray,
    chunk_size: Literal["auto"] | int,
    slots: int,
    work_s: float | None = None,
    normalizer: Normalizer | None = None,
) -> list[Chunk]:
    """The chunks of a generation on ``slots`` worker threads: groups of members
    (:func:`plan_chunks`), each cut into blocks of its episodes (:func:`episode_blocks`,
    ``auto`` chunk sizes only) played as tasks of their own, group by group."""
    blocks = 1
    if chunk_size == "auto":
        count = task_count(work_s, slots, problem.batched)
        blocks = episode_blocks(problem, episode_seeds, count, normalizer)
    if blocks > 1:
        plan = strided_plan(population.members, count // blocks)
    else:
        plan = plan_chunks(population.members, chunk_size, slots, work_s, problem.batched)
    chunks = make_chunks(population, episode_seeds, plan, normalizer)
    if blocks == 1:
        return chunks
    columns = np.array_split(np.arange(episode_seeds.shape[1]), blocks)
    return [
        Chunk(c.indices, c.members, np.ascontiguousarray(c.episode_seeds[:, e]), None, e)
        for c in chunks
        for e in columns
    ]


def assemble(
    size: int,
    results: list[ChunkResult],
    *,
    workers: int,
    bytes_sent: int = 0,
    bytes_received: int = 0,
    transfer_bytes: int = 0,
    retried: int = 0,
    events: list[dict] | None = None,
) -> Evaluation:
    """The chunks' results placed back in member order, with their cost."""
    fitness = np.full(size, np.nan)
    steps = np.zeros(size, dtype=np.int64)
    errors: dict[int, str] = {}
    for result in join_episodes(results):
        fitness[result.indices] = result.fitness
        steps[result.indices] = result.steps
        errors.update(result.errors)
    # Tasks numbered by their first member (then first episode), so the numbering follows
    # the chunk plan; a member played by several tasks (blocks of its episodes) is named
    # with its first, and its share of their time summed.
    ordered = sorted(results, key=_task_order(size))
    worker_names = tuple(sorted({r.worker or IN_PROCESS for r in ordered}))
    member_worker = np.full(size, -1, dtype=np.int16)
    member_task = np.full(size, -1, dtype=np.int16)
    member_seconds = np.full(size, np.nan, dtype=np.float32)
    for task, result in enumerate(ordered):
        first = result.indices[member_task[result.indices] < 0]
        member_worker[first] = worker_names.index(result.worker or IN_PROCESS)
        member_task[first] = task
        share = result.seconds / max(len(result.indices), 1)
        member_seconds[first] = 0.0
        member_seconds[result.indices] += share
    return Evaluation(
        fitness=fitness,
        steps=steps,
        compute_s=sum(r.seconds for r in results),
        longest_task_s=max((r.seconds for r in results), default=0.0),
        tasks=len(results),
        bytes_sent=bytes_sent,
        bytes_received=bytes_received,
        workers=workers,
        errors=dict(sorted(errors.items())),
        transfer_bytes=transfer_bytes,
        retried=retried,
        events=events or [],
        worker_names=worker_names,
        member_worker=member_worker,
        member_task=member_task,
        member_seconds=member_seconds,
        observations=_observations(size, results),
    )


def assemble_run(size: int, run: TaskRun) -> Evaluation:
    """:func:`assemble` of a batch of tasks' results, with its cost."""
    return assemble(
        size,
        run.results,
        workers=run.workers,
        bytes_sent=run.bytes_sent,
        bytes_received=run.bytes_received,
        transfer_bytes=run.transfer_bytes,
        retried=run.retried,
        events=run.events,
    )


def _task_order(size: int) -> Callable[[ChunkResult], tuple[int, int]]:
    def key(result: ChunkResult) -> tuple[int, int]:
        column = 0 if result.episodes is None else int(result.episodes[0])
        return int(np.min(result.indices, initial=size)), column

    return key


def _observations(size: int, results: list[ChunkResult]) -> ObservationStats | None:
    """The generation's observation sums, added in member order (None: not normalised)."""
    parts = [(r.indices, r.observations) for r in results if r.observations is not None]
    if not parts:
        return None
    return generation_stats(size, parts[0][1].sum.shape[1], parts)
