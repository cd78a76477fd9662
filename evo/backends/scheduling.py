"""One generation on a Dask cluster: submit chunks, collect them, recover from faults.

What can go wrong, and what happens (every recovery is safe because a task is a
pure function of its inputs, so a re-run gives the same bits):

- A worker dies: Dask re-runs its tasks elsewhere (the base vectors are a task
  too, so they are recomputed if their only copy was lost). A result already
  collected is not recomputed once its future is released: at once, or (with the
  placement's ``held``) as soon as the next batch is submitted.
- A worker hangs (stopped, swapping, wedged): Dask keeps waiting for it. When
  nothing has finished for ``straggler_factor`` times the median task time, the
  chunks still out are submitted again to the other workers (with a fresh copy
  of the bases, in case the hung worker holds the only one); the first copy to
  finish wins and the other is cancelled. The backend then leaves the slow
  worker out for a while (longer each time it straggles again).
- A member kills every worker that evaluates it ("poison"): after Dask's
  allowed failures its chunk fails with ``KilledWorker``; the chunk's members
  are then submitted one per task, and a single member that still kills its
  workers scores -inf, named in the events.
"""

from __future__ import annotations

import contextlib
import queue
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from evo.backends.tasks import Attempt, Outcome, Placement, generation_bases, run_on_worker
from evo.errors import EvaluationError, SchedulerLostError
from evo.interrupts import deferred, poll
from evo.problems.base import Chunk, ChunkResult, Problem, evaluate_chunk

TICK_S = 0.2  # how often the orchestrator looks at the cluster while a generation runs
MIN_STALL_S = 0.25  # never call a chunk a straggler sooner than this
INLINE_BASES_BYTES = 64 * 1024  # bases this small travel inside every task


def annotate(**annotations: Any) -> contextlib.AbstractContextManager[None]:
    """Dask's ``annotate`` for the tasks submitted inside."""
    import dask  # here: a run that never starts a cluster does not import Dask

    return dask.annotate(**annotations)


class GenerationRun:
    """Drives one generation's chunks to completion on ``client``.

    A chunk is evaluated by ``function(problem, bases, chunk)`` (by default
    :func:`evaluate_chunk`); other task kinds (gradient shards) use the same
    fault handling, except that only a :class:`Chunk` of several members can be
    split to find a poison member: any other task that kills its workers fails
    the generation.
    """

    def __init__(
        self,
        client: Any,
        problem: Problem,
        bases: Any,  # what every task shares: a generation's Bases, a round's parameters
        chunks: list[Chunk],
        generation: int,
        placement: Placement,
        function: Callable[[Any, np.ndarray, Any], Any] = evaluate_chunk,
    ) -> None:
        self.client, self.problem, self.bases = client, problem, bases
        self.function = function
        self.chunks = list(chunks)
        self.generation = generation
        self.placement = placement
        # None: any worker; else only these (hung ones left out), until one of them leaves
        self.workers = None if placement.workers is None else list(placement.workers)
        self.done: queue.Queue = queue.Queue()
        self.attempts: dict[Any, Attempt] = {}  # future key -> attempt
        self.results: dict[int, ChunkResult] = {}
        self.split: set[int] = set()  # chunks replaced by one task per member
        self.on_trial: list[int] = []  # single-member chunks waiting to run alone
        self.convicted: set[int] = set()  # chunks whose KilledWorker counts (they ran alone)
        self.isolated: int | None = None  # the suspect running now
        self.outcome = Outcome(results=[])
        self.bases_futures: list[Any] = []
        self.bases_submitted = 0  # copies of the bases sent to the cluster

    # ------------------------------------------------------------------ submission

    def _submit_bases(self, workers: list[str] | None) -> Any:
        with annotate(**self.placement.annotations):
            future = self.client.submit(
                generation_bases, self.bases, pure=False, workers=workers, allow_other_workers=False
            )
        self.bases_futures.append(future)
        self.bases_submitted += 1
        return future

    def _submit(self, chunk_ids: list[int], *, backup: bool, workers: list[str] | None) -> None:
        if not chunk_ids:
            return
        with deferred():
            # Small bases, or a task per worker anyway: they go inside each task. Tasks
            # without dependencies are spread over the workers by Dask as threads free up,
            # and are just as recomputable (the scheduler keeps a task's arguments until it
            # is done). Otherwise one bases task (per backup round: the hung worker may hold
            # the only copy), which Dask copies once to each worker that needs it.
            if (
                self.bases.nbytes <= INLINE_BASES_BYTES
                or len(chunk_ids) <= self.placement.workers_count
            ):
                bases = self.bases
                self.bases_submitted += len(chunk_ids)
            elif backup or not self.bases_futures:
                bases = self._submit_bases(workers)
            else:
                bases = self.bases_futures[-1]
            with annotate(**self.placement.annotations):
                futures = self.client.map(
                    run_on_worker,
                    [self.function] * len(chunk_ids),
                    [self.problem] * len(chunk_ids),
                    [bases] * len(chunk_ids),
                    [self.chunks[i] for i in chunk_ids],
                    pure=False,
                    workers=workers,
                    allow_other_workers=False,
                )
        for chunk, future in zip(chunk_ids, futures, strict=True):
            self.attempts[future.key] = Attempt(chunk, future, backup)
            future.add_done_callback(self.done.put)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Outcome:
        """Submit every chunk and return when each has a result (or raise)."""
        try:
            self._submit(list(range(len(self.chunks))), backup=False, workers=self.workers)
            self.placement.release_held()  # the last batch's, now that this one is on its way
            last_progress = time.monotonic()
            last_watch = last_progress
            while len(self.results) + len(self.split) < len(self.chunks):
                poll()  # a sweep stopping this experiment (its thread gets no signal)
                if self.client.status in ("closed", "closing"):  # the scheduler is gone
                    address = getattr(self.client.scheduler, "address", "?")
                    raise SchedulerLostError(f"the Dask scheduler at {address} is gone")
                finished = self._drain()
                if finished:
                    self._collect(finished)
                    last_progress = time.monotonic()
                now = time.monotonic()
                if now - last_watch >= 1.0:
                    self.placement.watch()  # may raise: no workers for too long
                    self._unpin_if_departed()
                    last_watch = now
                if self._stalled(now - last_progress):
                    self._back_up_stragglers()
                    last_progress = now
        except BaseException:
            if self.client.status == "running":
                with deferred():
                    futures = [a.future for a in self.attempts.values()] + self.bases_futures
                    self.client.cancel(futures)
            raise
        finally:
            self.placement.drop([a.future for a in self.attempts.values()] + self.bases_futures)
            self.attempts.clear()
            self.bases_futures.clear()
        self.outcome.results = [self.results[i] for i in sorted(self.results)]
        return self.outcome

    def _drain(self) -> list[Attempt]:
        """Attempts that are done, waiting up to a tick for one.

        The done-callbacks only wake this loop; what is done is read from the
        futures themselves, because a result lost with its worker makes a future
        pending again, and its callback does not fire a second time.
        """
        with contextlib.suppress(queue.Empty):
            self.done.get(timeout=TICK_S)
            while True:
                self.done.get_nowait()
        return [a for a in list(self.attempts.values()) if a.future.done()]

    def _collect(self, finished: list[Attempt]) -> None:
        ok = [a for a in finished if a.future.status == "finished" and a.chunk not in self.results]
        if ok:
            try:
                with deferred():
                    values = self.client.gather(
                        [a.future for a in ok], direct=self.placement.direct
                    )
            except Exception:  # a result was lost and its re-run failed: take them one by one
                values = [self._gather_one(a) for a in ok]
            for attempt, value in zip(ok, values, strict=True):
                if value is not None:
                    self.results[attempt.chunk] = value
                    if not attempt.backup:  # the original won: its worker was only slow
                        self.outcome.suspects.discard(value.worker)
        for attempt in finished:
            if attempt.chunk in self.results:
                self._retire_chunk(attempt.chunk)
                if attempt.chunk == self.isolated:
                    self.isolated = None
                    self._next_suspect()
            elif attempt.future.status == "error":
                self._failed(attempt)
            elif attempt.future.status == "cancelled":
                self._forget(attempt)
                if not self._pending(attempt.chunk):  # cancelled by someone else: run it again
                    self._submit([attempt.chunk], backup=True, workers=self.workers)
                    self.outcome.retried += 1

    def _gather_one(self, attempt: Attempt) -> ChunkResult | None:
        try:
            with deferred():
                return self.client.gather(attempt.future, direct=self.placement.direct)
        except Exception as exc:
            self._failed(attempt, exc)
            return None

    def _pending(self, chunk: int) -> list[Attempt]:
        return [a for a in self.attempts.values() if a.chunk == chunk]

    def _forget(self, attempt: Attempt) -> None:
        self.attempts.pop(attempt.future.key, None)
        self.placement.drop([attempt.future])

    def _retire_chunk(self, chunk: int) -> None:
        """A chunk has its result: cancel any other attempt and release every future of it."""
        others = self._pending(chunk)
        with deferred():
            running = [a.future for a in others if not a.future.done()]
            if running:
                self.client.cancel(running)
        for attempt in others:
            self._forget(attempt)

    # ------------------------------------------------------------------ faults

    def _failed(self, attempt: Attempt, exc: BaseException | None = None) -> None:
        from distributed.scheduler import KilledWorker

        if exc is None:
            try:
                with deferred():
                    exc = attempt.future.exception(timeout=TICK_S)
            except TimeoutError:
                return  # it is being run again (its result was lost): look again later
            if exc is None:
                return  # it was run again and finished meanwhile: collected next time
        self._forget(attempt)
        if attempt.chunk == self.isolated:
            self.isolated = None
        if self._pending(attempt.chunk):
            return  # another attempt of this chunk is still running: let it decide
        chunk = self.chunks[attempt.chunk]
        if not isinstance(exc, KilledWorker) or not isinstance(chunk, Chunk):
            where = (
                f"generation {self.generation + 1}"
                if self.generation >= 0
                else "the final evaluation"
            )
            raise EvaluationError(
                f"evaluation failed at {where}: a task failed on the cluster: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if len(chunk.indices) > 1:
            self._split(attempt.chunk)
            return
        if attempt.chunk not in self.convicted:
            # Dask blames every task a dying worker held, even queued ones: only a
            # member that kills its workers while running alone is poison.
            self.on_trial.append(attempt.chunk)
            self.convicted.add(attempt.chunk)
            self._next_suspect()
            return
        member = int(chunk.indices[0])
        self.results[attempt.chunk] = ChunkResult(
            indices=chunk.indices,
            fitness=np.full(1, -np.inf),
            steps=np.zeros(1, dtype=np.int64),
            worker="none (it killed its workers)",  # the lineage's worker column
            episodes=chunk.episodes,  # a part without returns: the joined member gets -inf
        )
        self.outcome.events.append(
            {
                "event": "member_killed_workers",
                "member": member,
                "message": f"evaluating member {member} killed its workers every time "
                "(Dask's allowed failures); it scores -inf",
            }
        )
        self._next_suspect()

    def _split(self, chunk_id: int) -> None:
        """A chunk killed its workers: evaluate its members one per task to find the culprit."""
        chunk = self.chunks[chunk_id]
        singles = []
        for row in range(len(chunk.indices)):
            singles.append(len(self.chunks))
            self.chunks.append(
                Chunk(
                    chunk.indices[row : row + 1],
                    chunk.members.take(np.array([row])),
                    chunk.episode_seeds[row : row + 1],
                    chunk.normalizer,
                    chunk.episodes,
                )
            )
        self.outcome.events.append(
            {
                "event": "chunk_split",
                "members": [int(i) for i in chunk.indices],
                "reason": "its tasks killed their workers",
            }
        )
        self.split.add(chunk_id)
        self.outcome.retried += len(singles)
        self.on_trial += singles
        self.convicted.update(singles)
        self._next_suspect()

    def _next_suspect(self) -> None:
        """Run the next member under suspicion, alone (none of ours beside it)."""
        if self.isolated is not None or not self.on_trial:
            return
        self.isolated = self.on_trial.pop(0)
        self._submit([self.isolated], backup=False, workers=self.workers)

    def _unpin_if_departed(self) -> None:
        """Work restricted to certain workers (hung ones left out) waits forever if one of
        them leaves (a restarted worker has a new address): lift the restriction and run
        the unfinished chunks again, anywhere."""
        if self.workers is None or not set(self.workers) & self.placement.departed():
            return
        self.workers = None
        waiting = sorted({a.chunk for a in self.attempts.values()})
        self.outcome.retried += len(waiting)
        self._submit(waiting, backup=True, workers=None)

    def _stalled(self, idle_s: float) -> bool:
        """Whether the chunks still out look stuck.

        Either nothing has finished for ``straggler_factor`` median task times, or,
        with a task per thread (each started when submitted, unless other experiments
        share the workers), threads are idle while every chunk still out has run that
        long: the first rule alone would wait for the other threads' whole share plus
        the threshold.
        """
        if self.placement.straggler_factor <= 0 or not self.attempts:
            return False
        durations = [r.seconds for r in self.results.values()]
        if not durations:
            return False
        threshold = max(self.placement.straggler_factor * statistics.median(durations), MIN_STALL_S)
        if idle_s > threshold:
            return True
        if len(self.chunks) > self.placement.threads or not self.placement.exclusive:
            return False  # queued tasks (ours or others'): submission time is not start time
        now = time.monotonic()
        return len(self.attempts) < self.placement.threads and all(
            now - a.submitted > threshold for a in self.attempts.values()
        )

    def _back_up_stragglers(self) -> None:
        """Submit the straggling chunks again, on workers other than those holding them."""
        waiting = sorted({a.chunk for a in self.attempts.values() if not a.backup})
        waiting = [c for c in waiting if not any(a.backup for a in self._pending(c))]
        if not waiting:
            return
        with deferred():
            processing = self.client.processing()
        keys = {a.future.key: a.chunk for a in self.attempts.values()}
        holders = {w for w, ks in processing.items() for k in ks if keys.get(k) in waiting}
        others = [w for w in processing if w not in holders]
        if self.workers is not None:
            others = [w for w in others if w in self.workers]
        if not others:
            return  # nowhere else to run them: keep waiting
        self.outcome.suspects |= holders
        self.outcome.retried += len(waiting)
        self.outcome.events.append(
            {
                "event": "stragglers_resubmitted",
                "chunks": len(waiting),
                "members": int(sum(_members(self.chunks[c]) for c in waiting)),
                "slow_workers": sorted(holders),
            }
        )
        self._submit(waiting, backup=True, workers=others)


def _members(payload: Any) -> int:
    """Members a task evaluates (0 for tasks that are not chunks)."""
    return len(payload.indices) if isinstance(payload, Chunk) else 0
