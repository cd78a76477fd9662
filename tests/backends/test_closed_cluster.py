"""The embedded cluster of `evo run` is closed: its scheduler accepts only the run's own
temporary TLS credentials, so another local user can neither submit code nor pose as a
worker; `backend.closed_cluster: false` opens it again (plain tcp://)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FITNESS_COLUMNS, REPO, run_cli, start_cli, tiny_config, write_config

EMBEDDED = re.compile(r"embedded LocalCluster at ((tcp|tls)://127\.0\.0\.1:\d+)")


def _config(tmp_path: Path, **backend: object) -> Path:
    """A sphere whose every chunk pauses 0.1 s: the run lasts a few seconds, at no CPU cost."""
    config = tiny_config(
        generations=12,
        backend={
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "workers": 2,
            **backend,
        },
        function={"entry_point": "tests.helpers:slow_sphere", "dim": 10},
        algorithm={"name": "openai_es", "population_size": 16, "sigma": 0.1},
        final_eval={"episodes": 1},
    )
    del config["env"], config["policy"]
    return write_config(tmp_path / "config.yaml", config)


@pytest.fixture
def importable_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers import tests.helpers from this checkout."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )


def _started(process: subprocess.Popen) -> str:
    """The scheduler address the run's first line names."""
    line = process.stdout.readline()
    found = EMBEDDED.search(line)
    assert found, (line, process.stderr.read() if process.poll() is not None else "")
    return found.group(1)


@pytest.fixture
def run(tmp_path: Path, importable_checkout: None) -> Iterator[subprocess.Popen]:
    """A closed-cluster `evo run` in the background; killed with its group if still on."""
    process = start_cli("run", str(_config(tmp_path)), "--runs-dir", str(tmp_path / "runs"))
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _fitness(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in FITNESS_COLUMNS} for line in lines]


def _connect(address: str, security: object = None) -> str:
    """How a client of ``address`` fared: "connected", or the error it met."""
    from distributed import Client

    try:
        with Client(address, timeout=3, security=security) as client:
            client.scheduler_info()
    except Exception as exc:  # every way of being refused counts
        return f"{type(exc).__name__}: {exc}"
    return "connected"


def _handshake_without_certificate(port: int) -> str:
    """A TLS client that trusts any server and shows no certificate: "connected" when the
    scheduler lets it talk, else how it was turned away."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"\0" * 8)  # TLS 1.3: the server's verdict comes with the reply
            return "connected" if tls.recv(1) else "closed by the scheduler"
    except TimeoutError:
        return "connected"  # the scheduler waits for the rest of a message
    except (ssl.SSLError, ConnectionError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_no_client_without_the_run_credentials_gets_in(run, tmp_path: Path) -> None:
    from distributed import Security

    address = _started(run)
    assert address.startswith("tls://")
    port = address.rsplit(":", 1)[1]
    attempts = {
        "plain tcp": _connect(f"tcp://127.0.0.1:{port}"),
        "tls, no certificate": _handshake_without_certificate(int(port)),
        # Anyone can make a certificate: one not from this run is refused in the handshake.
        "tls, its own certificate": _connect(address, Security.temporary()),
    }
    print(json.dumps(attempts, indent=1))
    assert run.poll() is None, "the run ended before every intruder had tried"
    for how, outcome in attempts.items():
        assert outcome != "connected", how
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    serial = run_cli(
        "run", str(_config(tmp_path)), "--runs-dir", str(tmp_path / "serial"), "--quiet",
        "--set", "backend.kind=serial",
    )  # fmt: skip
    assert serial.returncode == 0, serial.stderr
    closed = _fitness(Path(out.splitlines()[-1]))
    assert len(closed) == 12
    assert closed == _fitness(Path(serial.stdout.strip()))


def test_an_open_cluster_takes_any_local_client(tmp_path: Path, importable_checkout) -> None:
    path = _config(tmp_path, closed_cluster=False)
    process = start_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    try:
        address = _started(process)
        assert address.startswith("tcp://")
        assert _connect(address) == "connected"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
