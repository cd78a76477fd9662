"""Whether a Dask worker can run evo's tasks: it imports evo, and has the versions of evo and
of the packages that decide a run's numbers that this process has.

Dask's own check (``Client.get_versions(check=True)``) reads the installed packages'
metadata; a worker can have evo's metadata and import another copy first on its path, or
import a checkout that was never installed. So the probe imports evo on the worker and
reads its ``__version__``. A worker that lacks evo could not unpickle a function of evo's:
the probe travels by value (this module is registered with cloudpickle so), needing
nothing on the worker but the standard library.
"""

from __future__ import annotations

import sys
from typing import Any

import cloudpickle

from evo.errors import IncompatibleWorkerError
from evo.interrupts import deferred

# What a worker must share with this process: evo and what decides a run's numbers or
# carries its tasks. Python is compared to the minor version.
PACKAGES = ("numpy", "dask", "distributed", "gymnasium", "numba", "cloudpickle")
PROBE_TIMEOUT_S = 10
PACKAGE = __name__.partition(".")[0]  # the package a worker must import: evo

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def probe(packages: tuple[str, ...] = PACKAGES, package: str = PACKAGE) -> dict[str, str | None]:
    """The versions that decide whether this process can run evo's tasks (run on a worker
    by :func:`worker_problems`, and here, to compare): ``package`` imported (its
    ``__version__``) and ``packages`` installed. None: not installed; evo's entry says why
    it cannot be imported."""
    import importlib
    import importlib.metadata
    import platform

    found: dict[str, str | None] = {"python": ".".join(platform.python_version_tuple()[:2])}
    try:
        module = importlib.import_module(package)
        found["evo"] = str(getattr(module, "__version__", "unknown"))
    except Exception as exc:  # whatever stops the import is what the user must fix
        found["evo"] = None
        found["evo_error"] = f"{type(exc).__name__}: {exc}"
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def mismatch(here: dict[str, str | None], there: dict[str, str | None]) -> str | None:
    """What a worker lacks or has otherwise than this process, in words (None: nothing)."""
    if there.get("evo") is None:
        reason = there.get("evo_error") or "not installed"
        return f"cannot import evo ({reason}); it needs evo {here.get('evo')}"
    differences = [
        f"{name} {there.get(name) or 'not installed'} (here {version or 'not installed'})"
        for name, version in here.items()
        if name != "evo_error" and there.get(name) != version
    ]
    return ", ".join(differences) or None


def worker_problems(client: Any, workers: list[str] | None = None) -> dict[str, str]:
    """Worker address -> what is wrong with it, for ``workers`` (None: all the scheduler
    knows); an unreachable worker in ``PROBE_TIMEOUT_S`` is reported as such."""
    here = probe()
    with deferred():
        try:
            answers = client.run(
                probe, workers=workers, on_error="return", callback_timeout=PROBE_TIMEOUT_S
            )
        except TimeoutError:
            return {worker: f"did not answer in {PROBE_TIMEOUT_S} s" for worker in workers or ["?"]}
    problems = {}
    for worker, answer in answers.items():
        if isinstance(answer, BaseException):
            problems[worker] = f"cannot run evo's probe ({type(answer).__name__}: {answer})"
        elif (problem := mismatch(here, answer)) is not None:
            problems[worker] = problem
    return problems


def check_workers(client: Any) -> None:
    """Raise :class:`IncompatibleWorkerError` naming the first worker that cannot run
    evo's tasks (and how many more cannot)."""
    problems = worker_problems(client)
    if problems:
        raise IncompatibleWorkerError(describe_problems(problems))


def describe_problems(problems: dict[str, str]) -> str:
    """One line: the first worker (by address) and its problem, and how many more."""
    first = sorted(problems)[0]
    more = f" (and {len(problems) - 1} more workers)" if len(problems) > 1 else ""
    return f"Dask worker {first}: {problems[first]}{more}; install the same versions there"


# What decides which code a worker's numpy, numba and libm run (see evo.kernels): the
# evaluation path does not depend on it, and the events log says what each worker had.
CPU_SETTINGS = ("NPY_DISABLE_CPU_FEATURES", "NUMBA_CPU_NAME", "GLIBC_TUNABLES", "OPENBLAS_CORETYPE")


def cpu_details() -> dict[str, Any]:
    """This process's CPU model, the SIMD extensions numpy dispatches to, the CPU numba
    compiles for, and the environment settings that change those."""
    import os
    import platform

    model = platform.processor() or platform.machine() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                    model = value.strip()
                    break
    except OSError:
        pass
    details: dict[str, Any] = {"cpu": model}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        details["numpy_simd"] = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    except ImportError:  # another numpy layout: the settings below still say what was asked
        details["numpy_simd"] = None
    try:
        import llvmlite.binding
        import numba

        details["numba_cpu"] = numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    except ImportError:
        details["numba_cpu"] = None
    details["settings"] = {name: os.environ[name] for name in CPU_SETTINGS if name in os.environ}
    return details


def worker_cpus(client: Any, workers: list[str]) -> dict[str, dict[str, Any]]:
    """Worker address -> :func:`cpu_details` there (workers that do not answer in
    ``PROBE_TIMEOUT_S`` are left out)."""
    with deferred():
        try:
            answers = client.run(
                cpu_details, workers=workers, on_error="return", callback_timeout=PROBE_TIMEOUT_S
            )
        except TimeoutError:
            return {}
    return {w: a for w, a in answers.items() if isinstance(a, dict)}


class WorkerVetting:
    """What is known of each worker a backend has seen: whether it can run evo's tasks
    (probed once, when first seen, joining later included) and whether its CPU is in the
    events log."""

    def __init__(self) -> None:
        self.checked: set[str] = set()  # workers probed for evo and its versions
        self.described: set[str] = set()  # workers whose CPU is in the events log
        self.incompatible: dict[str, str] = {}  # worker -> why it cannot run evo's tasks

    def describe_cpus(self, client: Any, workers: list[str]) -> list[dict[str, Any]]:
        """A ``worker_cpu`` event (model, SIMD, numba target, settings) for each worker
        seen for the first time."""
        new = [worker for worker in workers if worker not in self.described]
        if not new:
            return []
        self.described.update(new)
        return [
            {"event": "worker_cpu", "worker": worker, **details}
            for worker, details in sorted(worker_cpus(client, new).items())
        ]

    def compatible(
        self, client: Any, workers: dict[str, int]
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """``workers`` less those that cannot run evo's tasks, and a ``worker_excluded``
        event for each newly found one. When no worker is left,
        :class:`IncompatibleWorkerError` names one."""
        events = []
        unchecked = sorted(set(workers) - self.checked)
        if unchecked:
            problems = worker_problems(client, unchecked)
            self.checked.update(unchecked)
            for worker, problem in sorted(problems.items()):
                self.incompatible[worker] = problem
                events.append({"event": "worker_excluded", "worker": worker, "reason": problem})
        compatible = {a: n for a, n in workers.items() if a not in self.incompatible}
        if workers and not compatible:
            raise IncompatibleWorkerError(
                describe_problems({a: self.incompatible[a] for a in workers})
            )
        return compatible, events
