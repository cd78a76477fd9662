"""Starting and resuming runs: the checks before any folder exists, the run folder's
provenance, the backend's life cycle around the loop."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evo.backends import Backend, check_backend, make_backend
from evo.callbacks import Callback, CallbackList, closing, configured_loggers
from evo.checkpoints import Checkpoint, write_checkpoint
from evo.config import ConfigError, ExperimentConfig, dump_yaml, load_config
from evo.config.changes import check_resume_changes
from evo.errors import EvoError, RunFolderError
from evo.loop import run_loop
from evo.methods import make_method
from evo.problems import make_problem
from evo.reporting import Reporter
from evo.runformat import FORMAT, older_format
from evo.runlog import CONFIG, EVENTS, RunFolder
from evo.session import Session
from evo.strategies.base import State


@dataclass(frozen=True)
class RunResult:
    """Where a run was written and its summary."""

    path: Path
    summary: dict[str, Any]


def run(
    config: ExperimentConfig,
    runs_dir: str | os.PathLike[str] = "runs",
    *,
    callbacks: Sequence[Callback] = (),
    fitness: Callable | None = None,
    client: Any = None,
    cluster: Any = None,
    scheduler: str | None = None,
    reporter: Reporter | None = None,
    quiet: bool = False,
    folder_name: str | None = None,
) -> RunResult:
    """Run an experiment into a new run folder under ``runs_dir``.

    Everything that can fail on bad input (the env, the data set, the function, the
    scheduler address) is checked before the folder is created. ``fitness`` is your own
    function of a ``(members, dim)`` float32 array (the config's ``function`` section
    gives ``dim``); ``client`` an existing ``distributed.Client`` and ``cluster`` a Dask
    cluster object (dask-jobqueue, dask-kubernetes, a ``LocalCluster``; a sweep's shared
    client). The folder is ``<name>-<timestamp>``, or ``folder_name`` exactly.
    """
    started = time.perf_counter()
    if config.seed is None:
        config = dataclasses.replace(config, seed=secrets.randbits(31))
    reporter = reporter or Reporter(quiet=quiet)
    problem = make_problem(config, fitness)
    method = make_method(config, problem)
    check_backend(config.backend, scheduler)
    loggers = configured_loggers(config)
    versions, machine = package_versions(), host_details()
    folder = RunFolder.create(runs_dir, folder_name or config.name, stamp=folder_name is None)
    lock = folder.lock()
    backend: Backend | None = None
    try:
        header = _provenance_header(versions, machine)
        # As the folder records it (a callable named by its entry point): what its
        # checkpoints hold, so that a resume from the folder's config matches them.
        config = _recorded(config, fitness)
        folder.write_config(header + dump_yaml(config))
        # The initial state is a checkpoint: a run stopped at any moment can be resumed.
        state = method.init(config.seed)
        point = Checkpoint.start(state, config, problem)
        try:  # an interrupt from here until the loop runs is logged as a stop
            first = write_checkpoint(folder, method.name, config.seed, point, config)
            try:
                backend = make_backend(
                    problem, config.backend, client=client, cluster=cluster, scheduler=scheduler
                )
            except EvoError:  # the scheduler cannot be reached, ...: no run, no folder
                lock.release()
                folder.discard()
                raise
            where = backend.describe()
            reporter.info(where)
            folder.append_event("start", versions=versions, host=machine, backend=where)
            folder.append_event("checkpoint", generation=0, path=first.name)
            opened = [logger.open(config, folder.path, None) for logger in loggers]
            hooks = CallbackList([reporter, *opened, *callbacks])
            session = Session.begin(config, problem, method, backend, folder, hooks, started, point)
        except KeyboardInterrupt:  # while the cluster was starting, or just before or after
            folder.append_event("stop", reason="interrupted", generations=0)
            raise
        with closing(hooks):
            return _drive(session, state)
    finally:
        reporter.close()
        if backend is not None:
            backend.close()
        lock.release()


def resume(
    run_dir: str | os.PathLike[str],
    *,
    callbacks: Sequence[Callback] = (),
    fitness: Callable | None = None,
    client: Any = None,
    cluster: Any = None,
    scheduler: str | None = None,
    reporter: Reporter | None = None,
    quiet: bool = False,
    overrides: Sequence[str] = (),
) -> RunResult:
    """Continue a run that stopped early (killed, crashed, interrupted) from its newest
    checkpoint. The generations after the checkpoint are run again; being deterministic,
    they give the numbers the first attempt would have, and their log lines replace any
    the first attempt wrote. ``overrides`` (``KEY=VALUE``) may change only what decides
    when and where the run goes on (:data:`~evo.config.changes.SAFE_ON_RESUME`)."""
    started = time.perf_counter()
    folder = RunFolder.open(run_dir)
    lock = folder.lock()  # one writer at a time: a second resume is refused here
    try:
        return _resume(
            folder,
            started,
            callbacks,
            fitness,
            client,
            cluster,
            scheduler,
            reporter,
            quiet,
            overrides,
        )
    finally:
        lock.release()


def _resume(
    folder: RunFolder,
    started: float,
    callbacks: Sequence[Callback],
    fitness: Callable | None,
    client: Any,
    cluster: Any,
    scheduler: str | None,
    reporter: Reporter | None,
    quiet: bool,
    overrides: Sequence[str],
) -> RunResult:
    """:func:`resume` of a locked folder."""
    if folder.read_summary() is not None:
        raise RunFolderError(f"{folder.path}: the run has finished (it has a summary.json)")
    folder.read_events()  # appended to: a damaged log is refused before anything runs
    if folder.format < FORMAT:  # its logs or its noise are otherwise: not continued
        raise RunFolderError(
            f"{folder.path}: a run folder of format {folder.format} ({older_format(folder.format)})"
            f", which this evo reads but does not resume; rerun it with: "
            f"evo run {folder.path / CONFIG}"
        )
    config = load_config(folder.path / CONFIG)
    changed: list[str] = []
    if overrides:
        recorded, config = config, load_config(folder.path / CONFIG, overrides)
        changed = check_resume_changes(recorded, config)
    reporter = reporter or Reporter(quiet=quiet)
    problem = make_problem(config, fitness)
    method = make_method(config, problem)
    if not folder.checkpoints() and not folder.read_metrics() and config.seed is not None:
        # killed before its first checkpoint was whole: it starts again, as it would have
        point = Checkpoint.start(method.init(config.seed), config, problem)
    else:
        point = Checkpoint.latest(folder, method, config)
    if point.state.generation > method.generations:
        raise ConfigError(
            f"--set generations: expected at least {point.state.generation} "
            f"(the checkpoint's), found {method.generations}"
        )
    loggers = configured_loggers(config)
    backend = make_backend(
        problem, config.backend, client=client, cluster=cluster, scheduler=scheduler
    )
    try:
        where = backend.describe()
        reporter.info(f"resuming {folder.path} after generation {point.state.generation}")
        reporter.info(where)
        folder.remove_temporary_files()
        folder.truncate_metrics(point.state.generation)
        folder.truncate_metrics(None, EVENTS)  # a line torn by a kill, not to be appended to
        folder.truncate_lineage(point.state.generation)
        if changed:  # the folder's config is what the run now is: a later resume uses it
            header = "".join(line for line in folder.config_lines() if line.startswith("#"))
            folder.write_config(header + dump_yaml(config))
        folder.append_event(
            "resume", generation=point.state.generation, backend=where, changed=changed
        )
        after = point.state.generation
        opened = [logger.open(config, folder.path, after) for logger in loggers]
        hooks = CallbackList([reporter, *opened, *callbacks])
        session = Session.begin(config, problem, method, backend, folder, hooks, started, point)
        with closing(hooks):
            return _drive(session, point.state)
    finally:
        reporter.close()
        backend.close()


def _drive(session: Session, state: State) -> RunResult:
    """The loop from ``state``, with this process's BLAS threads held back if need be."""
    with orchestrator_threads(session.backend):
        return RunResult(session.folder.path, run_loop(session, state))


def _recorded(config: ExperimentConfig, fitness: Callable | None) -> ExperimentConfig:
    """The config as the run folder records it: a callable given from Python is named by
    its entry point (resuming from the command line needs it importable)."""
    if fitness is None or config.function is None:
        return config
    from evo.problems.imports import entry_point_of

    return config.replace("function.entry_point", entry_point_of(fitness))


@contextlib.contextmanager
def orchestrator_threads(backend: Backend) -> Iterator[None]:
    """One BLAS thread in this process while an embedded cluster's workers use every core:
    numpy's idle BLAS threads spin-wait after each call (a norm, a test-set pass) and take
    CPU from the workers (2-vs-1-worker speedup of the wide spiral net: 1.42 -> 1.71)."""
    if getattr(backend, "cluster", None) is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in ("evo", "numpy", "dask", "distributed", "gymnasium"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def host_details() -> dict[str, Any]:
    """Where the run ran: host name, CPU model, cores, and the git commit of the checkout
    evo was imported from (absent when evo is an installed package)."""
    details: dict[str, Any] = {
        "host": platform.node() or "unknown",
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
    }
    commit = git_commit(Path(__file__).resolve().parent.parent)
    if commit is not None:
        details["git_commit"] = commit
    return details


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder`` when it is the top of a git work tree (with
    ``-dirty`` when files tracked there have changed), else None."""
    if not (folder / ".git").exists():
        return None

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}-dirty" if changed else commit


def _provenance_header(versions: dict[str, str], machine: dict[str, Any]) -> str:
    listed = ", ".join(f"{k} {v}" for k, v in versions.items())
    where = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in machine.items())
    return (
        f"# resolved by evo; rerun with: evo run <this file>\n"
        f"# {listed}\n# {where}\n# format {FORMAT}\n"
    )
