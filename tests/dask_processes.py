"""`dask scheduler` and `dask worker` processes on 127.0.0.1, started and stopped by a test."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# `dask scheduler` and `dask worker`, from this interpreter (whatever is first on PATH).
SCHEDULER = [sys.executable, "-m", "dask", "scheduler"]
WORKER = [sys.executable, "-m", "dask", "worker"]


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM, workers before schedulers: a worker whose scheduler went first spends
    seconds trying to reach it again before it exits. SIGKILL after 20 s."""

    def is_scheduler(process: subprocess.Popen) -> bool:
        return "scheduler" in map(str, process.args)

    workers = [p for p in processes if not is_scheduler(p)]
    for group in (workers, [p for p in processes if is_scheduler(p)]):
        for process in group:
            if process.poll() is None:
                process.terminate()
        for process in group:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start_scheduler(
    folder: Path,
    logs,
    extra: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    prefix: Sequence[str] = (),
) -> tuple[subprocess.Popen, str]:
    """A `dask scheduler` on ``host`` (random port) and its address; ``extra``: more flags;
    ``prefix``: what the command runs under (``ip netns exec NAME``)."""
    scheduler_file = folder / "scheduler.json"
    process = subprocess.Popen(
        [
            *prefix,
            *SCHEDULER,
            "--host",
            host,
            "--port",
            "0",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(scheduler_file),
            *extra,
        ],
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            try:  # the file may be seen before its content is written
                return process, json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
    except BaseException:  # it died or never wrote its file: see the log
        _stop([process])
        raise


def _start_worker(
    address: str,
    folder: Path,
    logs,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    prefix: Sequence[str] = (),
) -> subprocess.Popen:
    """A single-thread `dask worker` (with its nanny) on ``host``, in a process group of its
    own; ``extra``: more flags; ``env``: its environment (default: this process's);
    ``prefix``: what the command runs under."""
    return subprocess.Popen(
        [
            *prefix,
            *WORKER,
            address,
            "--nthreads",
            "1",
            "--host",
            host,
            "--no-dashboard",
            "--local-directory",
            str(folder),
            *extra,
        ],
        stdout=logs,
        stderr=subprocess.STDOUT,
        cwd=folder,
        start_new_session=True,
        env=env,
    )
