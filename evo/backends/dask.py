"""Evaluation on a Dask cluster: an embedded LocalCluster, a scheduler address, or a Client.

Per generation the base vectors are submitted once as a task of their own (a
value Dask can recompute if the worker holding it dies, unlike a ``scatter``
copy) and every chunk task takes that future positionally. Chunk tasks are
``pure=False``; each result is collected as soon as it is in, and its future
released once the next batch is submitted. Faults (dead, hung and poisoned
workers) are handled per generation by :class:`evo.backends.scheduling.GenerationRun`."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from evo.backends.address import check_address
from evo.backends.base import Evaluation, TaskRun, assemble_run, plan_tasks
from evo.backends.cluster import Connection
from evo.backends.cluster import SchedulerEvents as _SchedulerEvents
from evo.backends.cluster_log import ClusterLog, SentCount, TransferCount, Workerless
from evo.backends.compat import WorkerVetting
from evo.backends.scheduling import GenerationRun, annotate
from evo.backends.serial import SerialBackend
from evo.backends.startup import RoundVenue, Venue, WorkerStartup
from evo.backends.tasks import Placement, generation_bases, release_held
from evo.config import BackendConfig
from evo.interrupts import deferred
from evo.population import Population
from evo.problems.base import Problem, evaluate_chunk
from evo.problems.normalization import Normalizer

PROBATION = 5  # batches a straggling worker is first left out for (then 10, 20, ...)

__all__ = ["DaskBackend", "generation_bases"]


class DaskBackend:
    """Farms chunks of members to Dask workers (several may share one client)."""

    def __init__(
        self,
        problem: Problem,
        config: BackendConfig,
        *,
        client: Any = None,
        cluster: Any = None,
        scheduler: str | None = None,
    ) -> None:
        self.problem = problem
        self.config = config
        self.connection: Connection | None = None
        self.client: Any = None
        self.cluster: Any = None
        self._startup: WorkerStartup | None = None
        # Until an embedded cluster's workers are up and warm, generations run here.
        self._local = SerialBackend(problem, config)
        self._here_s = 0.0  # seconds of generations evaluated here while there were no workers
        self._venue = Venue(config.placement == "auto" and Venue.safe(problem))
        self._rounds = RoundVenue(self._venue.enabled)  # a gradient round's, likewise
        self._round_here = False  # where the gradient round under way runs
        self._workerless = Workerless(config.worker_timeout_s)
        self._episode_s: float | None = None  # measured CPU-seconds per episode, for chunking
        # Workers that held straggling tasks -> (the batch they may work again from, how
        # often they straggled): left out for PROBATION batches, doubled at each repeat, so
        # a hung worker costs little while one slow for a moment (a busy machine) comes back.
        self._suspects: dict[str, tuple[int, int]] = {}
        self._batches = 0  # batches of tasks run (generations, rounds, their steps)
        self._transfer = TransferCount()  # the bytes Dask's workers served
        self._log = ClusterLog()  # workers joining and leaving, their threads
        self._vetting = WorkerVetting()  # what each worker has, probed once
        # All of a run's tasks in one Dask span: else the scheduler opens a "default" span
        # each time the cluster goes idle (every generation) and keeps them all: +40% of the
        # orchestrator's memory over 1000 generations (the embedded scheduler lives here).
        self._annotations = {"span": {"name": ("evo",), "ids": (str(uuid.uuid4()),)}}
        self._sent = SentCount()  # the bytes the tasks sent
        self._held: list[Any] = []  # the last batch's futures, released with the next batch
        embedded = client is None and cluster is None and check_address(config, scheduler) is None
        if embedded and config.start_after_s > 0:  # opened by the start-up thread, later
            self._startup = WorkerStartup(
                lambda: Connection.open(config, None, wait=False),
                problem,
                config.worker_timeout_s,
                begin=False,
            )
            return
        try:
            connection = Connection.open(
                config, scheduler, client=client, cluster=cluster, wait=False
            )
        except BaseException:
            self.close()  # an interrupt during start-up must not leave the cluster running
            raise
        self._attach(connection)
        if connection.owns_cluster and self.cluster is not None:
            self._startup = WorkerStartup(lambda: connection, problem, config.worker_timeout_s)

    def _attach(self, connection: Connection) -> None:
        """Use ``connection`` from now on."""
        self.connection = connection
        self.client, self.cluster = connection.client, connection.cluster
        with deferred():
            _SchedulerEvents.add(self.client, self._log.on_scheduler_event)
        self._sent.start(self.client, self._sharers())

    def wait_for_workers(self) -> None:
        """Until an embedded cluster's workers are up and have run a first task (at once
        for a cluster not started here); the generations before that run in process."""
        self._starting(wait=True)

    def _starting(self, wait: bool) -> bool:
        """Whether the embedded cluster's workers are still starting (``wait``: wait until
        they are not). The workers joining at start-up are not cluster events."""
        startup = self._startup
        if startup is None:
            return False
        if wait:
            startup.wait()
        elif not startup.ready.is_set():
            return True
        self._startup = None
        if self.connection is None:  # a start deferred, now made (or failed to be)
            if startup.connection is None:
                assert startup.error is not None
                raise startup.error
            self._attach(startup.connection)
        self._log.forget_joins()
        if "opened" in startup.times and self.cluster is not None:
            times = startup.times
            started = {
                "event": "cluster_started",
                "backend": self.connection.describe(),
                "open_s": round(times["opened"] - times["begun"], 3),
                "start_s": round(times["ready"] - times["begun"], 3),
            }
            self._log.add([started])
        return False

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        return self.cluster_size()[0]

    def cluster_size(self) -> tuple[int, int]:
        """(workers, worker threads) the scheduler knows now: one round trip ((0, 0) before
        a deferred start)."""
        return (0, 0) if self.connection is None else self.connection.size()

    def _watch_workers(self) -> None:
        """Give up on a generation when the cluster has had no worker for too long."""
        self._workerless.check(self.cluster_size()[0])

    def describe(self) -> str:
        """One line for the console: where the scheduler and its dashboard are."""
        if self.connection is None:
            count = self.config.workers or os.cpu_count() or 1
            faster = " if they would be faster there" if self.config.placement == "auto" else ""
            return (
                f"dask backend: embedded LocalCluster of {count} workers, started once "
                f"generations have run {self.config.start_after_s:g} s in this process{faster} "
                f"(backend.start_after_s, backend.placement)"
            )
        return self.connection.describe()

    def _sharers(self) -> int:
        """Backends using this client now, this one included."""
        return max(1, _SchedulerEvents.listeners(self.client))

    def _healthy_workers(self) -> tuple[list[str] | None, list[str]]:
        """Workers to use (None: all), leaving out hung ones, and each one's address once per
        thread it has."""
        self._starting(wait=True)
        info = self._log.threads
        if info is None:  # the first generation, or workers came or went since the last
            workers = self.connection.workers_info()
            info = {a: w.get("nthreads", 1) for a, w in workers.items()}
            self._log.threads = info
            self._describe_cpus(sorted(info))
        known, info = len(info), self._compatible(info)
        # a suspect that left (or was removed) is forgotten
        self._suspects = {a: v for a, v in self._suspects.items() if a in info}
        excluded = {a for a, (until, _) in self._suspects.items() if until > self._batches}
        healthy = {a: n for a, n in info.items() if a not in excluded}
        if not healthy:  # every worker is suspect: trust them all again
            self._suspects.clear()
            healthy = info
        slots = [a for a in sorted(healthy) for _ in range(healthy[a])]
        # not ours: only vetted workers (one joining before the submit is not vetted yet)
        everyone = len(healthy) == known and self.cluster is not None
        return (None if everyone else sorted(healthy)), slots

    def _describe_cpus(self, workers: list[str]) -> None:
        events = self._vetting.describe_cpus(self.client, workers)
        self._log.add(events)

    def _compatible(self, workers: dict[str, int]) -> dict[str, int]:
        if self.cluster is not None:  # the embedded cluster's workers are this interpreter's
            return workers
        compatible, events = self._vetting.compatible(self.client, workers)
        self._log.add(events)
        return compatible

    def evaluate(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None = None,
    ) -> Evaluation:
        """Fitness of every member, in member order (playing with ``normalizer``, if any)."""
        starting = self._starting(wait=False)
        threads = 0 if starting else len(self._healthy_workers()[1])
        if starting or (generation >= 0 and self._venue.here(threads)):
            return self._evaluate_here(population, episode_seeds, generation, normalizer)
        started = time.perf_counter()
        evaluation = self._evaluate_there(population, episode_seeds, generation, normalizer)
        self._venue.ran_there(time.perf_counter() - started, evaluation, threads)
        return evaluation

    def _evaluate_here(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None,
    ) -> Evaluation:
        """A generation in this process: while the workers start (a deferred start begins
        once the generations after the first have taken ``start_after_s``; a final
        evaluation starts nothing), or while that is faster (:class:`Venue`)."""
        started = time.perf_counter()
        evaluation = self._local.evaluate(population, episode_seeds, generation, normalizer)
        if generation >= 0:
            self._venue.ran_here(time.perf_counter() - started, evaluation)
        if generation > 0:
            self._ran_here(started)
        evaluation.events[:0] = self._log.take()
        return evaluation

    def _evaluate_there(
        self,
        population: Population,
        episode_seeds: np.ndarray,
        generation: int,
        normalizer: Normalizer | None,
    ) -> Evaluation:
        workers, slots = self._healthy_workers()
        episodes = episode_seeds.shape[1]
        work = None if self._episode_s is None else self._episode_s * population.size * episodes
        size, threads = self.config.chunk_size, len(slots)
        chunks = plan_tasks(
            self.problem, population, episode_seeds, size, threads, work, normalizer
        )
        run = self._run(
            evaluate_chunk, self.problem, population.shared, chunks, generation, workers, slots
        )
        if run.compute_s > 0 and generation >= 0:
            self._episode_s = run.compute_s / (population.size * episodes)
        return assemble_run(population.size, run)

    def start_round(self) -> int:
        """A gradient round begins: the worker threads its tasks will use (hung workers
        left out), or 1 where it runs in this process (:class:`RoundVenue`)."""
        self._round_here = self._rounds.begin(self._starting(wait=False))
        return 1 if self._round_here else len(self._healthy_workers()[1])

    def _ran_here(self, started: float) -> None:
        """Work done here since ``started`` while the workers start: a deferred start
        begins once such work adds up to ``start_after_s``, unless generations are too
        small for the workers ever to be faster (:meth:`Venue.worth_starting`)."""
        release_held(self._held)  # no batch follows on the cluster soon
        if self._startup is not None:
            self._here_s += time.perf_counter() - started
            threads = self.config.workers or os.cpu_count() or 1
            worth = self._venue.worth_starting(threads) and self._rounds.worth_starting(threads)
            if self._here_s >= self.config.start_after_s and worth:
                self._startup.begin()

    def map(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
    ) -> TaskRun:
        """``function(problem, shared, payload)`` for every payload on the cluster (here
        where the round runs here), fault handling as a generation's; in payload order."""
        if self._round_here:
            started = time.perf_counter()
            run = self._local.map(function, problem, shared, payloads, generation)
            self._rounds.ran_here(time.perf_counter() - started)
            self._ran_here(started)
            return run
        workers, slots = self._healthy_workers()
        return self._run(function, problem, shared, payloads, generation, workers, slots)

    def persist(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
    ) -> list:
        """Futures of ``function(problem, shared, payload)``: their results stay on the
        workers (Dask runs the tasks that take them there, and recomputes a result lost
        with its worker, the task being pure). Where the round runs here: the results
        themselves."""
        if self._round_here:
            started = time.perf_counter()
            results = self._local.persist(function, problem, shared, payloads)
            self._rounds.ran_here(time.perf_counter() - started)
            self._ran_here(started)
            return results
        workers, _ = self._healthy_workers()
        with deferred(), annotate(**self._annotations):
            futures = self.client.map(
                function,
                [problem] * len(payloads),
                [shared] * len(payloads),
                payloads,
                pure=False,
                workers=workers,
                allow_other_workers=False,
            )
        release_held(self._held)
        return futures

    def release(self, refs: list) -> None:
        """Drop the futures (with the next batch): the workers free the results."""
        self._held.extend(f for f in refs if hasattr(f, "release"))  # not results made here

    def _run(
        self,
        function: Callable[[Any, np.ndarray, Any], Any],
        problem: Any,
        shared: np.ndarray,
        payloads: list,
        generation: int,
        workers: list[str] | None,
        slots: list[str],
    ) -> TaskRun:
        sharers = self._sharers()
        placement = Placement(
            workers=None if workers is None else tuple(workers),
            workers_count=len(set(slots)),
            threads=len(slots),
            # Experiments sharing the client (a sweep) queue tasks on the same workers: a
            # chunk may wait behind theirs, which is no sign of a hung worker.
            straggler_factor=self.config.straggler_factor * sharers,
            exclusive=sharers == 1,
            watch=self._watch_workers,
            departed=self._log.departed,
            annotations=self._annotations,
            direct=True if self.cluster is not None else None,  # no scheduler hop from here
            held=self._held,
        )
        run = GenerationRun(self.client, problem, shared, payloads, generation, placement, function)
        outcome = run.run()
        self._batches += 1
        for worker in outcome.suspects:
            strikes = self._suspects.get(worker, (0, 0))[1] + 1
            self._suspects[worker] = (self._batches + PROBATION * 2 ** (strikes - 1), strikes)
        results = outcome.results
        payload_bytes = self._sent.since_last(self.client, sharers, run, problem)
        seconds = [r.seconds for r in results]
        return TaskRun(
            results=results,
            compute_s=sum(seconds),
            longest_task_s=max(seconds, default=0.0),
            workers=len(set(slots)),
            bytes_sent=payload_bytes,
            bytes_received=sum(r.nbytes for r in results),
            transfer_bytes=self._transfer.since_last(results),
            retried=outcome.retried,
            events=self._log.take() + outcome.events,
        )

    def close(self) -> None:
        """Close the client and, if this backend started it, the cluster."""
        startup = self._startup
        if self.connection is None and startup is not None and startup.begun:
            startup.opened.wait()  # a deferred start under way: close what it made
            if startup.connection is not None:
                self.connection = startup.connection
                self.client, self.cluster = self.connection.client, self.connection.cluster
        if self.connection is None:
            return
        release_held(self._held)
        with deferred(), contextlib.suppress(Exception):
            _SchedulerEvents.remove(self.connection.client, self._log.on_scheduler_event)
        starting = startup is not None and not startup.ready.is_set()
        if starting:
            startup.abandon()
        self.connection.close(starting=starting)
        if self._startup is not None:
            self._startup.stop()
