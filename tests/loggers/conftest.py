"""What the logger tests share: real runs that log, and a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, tiny_config, write_config

SERVER_START_S = 180  # imports and database migrations, on a loaded 2-core machine


def logged_run(folder: Path, *settings: str, **config: Any) -> Path:
    """A short serial run made with the real command line; its folder."""
    path = write_config(folder / "config.yaml", tiny_config(generations=4, **config))
    result = run_cli("run", str(path), "--runs-dir", str(folder / "runs"), "--quiet", *settings)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def metrics(run: Path) -> list[dict[str, Any]]:
    """The run's metrics.jsonl."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def numeric(record: dict[str, Any]) -> dict[str, float]:
    """A line's columns that hold a finite number (what the loggers log)."""
    return {
        key: float(value)
        for key, value in record.items()
        if isinstance(value, (int, float)) and abs(float(value)) != float("inf")
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` (SQLite store, artifacts served by it) started for the session
    and stopped after it, also when a test fails; its URL."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{home / 'store.db'}",
        "--artifacts-destination", str(home / "artifacts"),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(home / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        with_children = os.getpgid(server.pid)  # its own session: the server and its workers
        os.killpg(with_children, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(ProcessLookupError):  # a worker that outlived the server
            os.killpg(with_children, signal.SIGKILL)
        log.close()
