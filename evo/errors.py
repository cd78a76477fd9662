"""Exception types that carry the one-line message a user needs."""

from __future__ import annotations


class EvoError(Exception):
    """Base class: the message is shown to the user as is, without a traceback."""

    exit_code = 1


class ConfigError(EvoError):
    """Bad input: a config file, a ``--set`` override or a command-line value."""

    exit_code = 2


class RunFolderError(EvoError):
    """A run folder that is missing, incomplete or not an evo run."""

    exit_code = 2


class WorkersLostError(EvoError):
    """The cluster had no workers for longer than ``backend.worker_timeout_s``."""

    exit_code = 1


class SchedulerLostError(EvoError):
    """The Dask scheduler went away (its client gave up reconnecting)."""

    exit_code = 1


class EvaluationError(EvoError):
    """A fitness evaluation raised: names the member, the generation and the cause."""

    exit_code = 1


class IncompatibleWorkerError(EvoError):
    """A Dask worker that cannot import evo, or has other versions of it or its
    dependencies than the orchestrator: names the worker and the difference."""

    exit_code = 2
