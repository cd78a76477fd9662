"""TLS for the Dask backend: `evo run` against a `dask scheduler --protocol tls` and its
worker, the embedded LocalCluster over TLS, and the one-line errors of a mismatch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from evo.analysis.replay import replay
from evo.config import SecurityConfig, from_dict, to_dict
from evo.errors import ConfigError
from evo.experiment import run
from evo.reporting import Reporter
from tests.certificates import write_certificates
from tests.conftest import FITNESS_COLUMNS, REPO, run_cli, tiny_config, write_config
from tests.dask_processes import _start_scheduler, _start_worker, _stop


@pytest.fixture(scope="module", autouse=True)
def importable_checkout() -> Iterator[None]:
    """Workers and `evo run` started in other directories import this checkout's evo."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        )
        yield


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths of ca.pem, cert.pem and key.pem, keyed like backend.security."""
    return write_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def tls_scheduler(
    tmp_path_factory: pytest.TempPathFactory, certificates: dict[str, str]
) -> Iterator[str]:
    """A `dask scheduler --protocol tls` and one single-thread TLS `dask worker`, stopped
    afterwards (even when a test fails); yields the tls:// address."""
    folder = tmp_path_factory.mktemp("tls-cluster")
    flags = [
        "--tls-ca-file",
        certificates["ca_file"],
        "--tls-cert",
        certificates["cert_file"],
        "--tls-key",
        certificates["key_file"],
    ]
    logs = open(folder / "cluster.log", "w")  # noqa: SIM115  (closed below)
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(folder, logs, ["--protocol", "tls", *flags])
        processes.append(scheduler)
        processes.append(_start_worker(address, folder, logs, flags))
        from distributed import Client, Security

        security = Security(
            tls_ca_file=certificates["ca_file"],
            tls_client_cert=certificates["cert_file"],
            tls_client_key=certificates["key_file"],
            require_encryption=True,
        )
        with Client(address, timeout=30, security=security) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in processes[::-1]:  # the worker first, while the scheduler still listens
            _stop([process])
        logs.close()


def _fitness(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in FITNESS_COLUMNS} for line in lines]


def _one_error_line(result: subprocess.CompletedProcess, start: str) -> str:
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"evo: error: {start}"), line
    return line


def test_run_on_a_tls_cluster_matches_a_serial_run(
    tls_scheduler: str, certificates: dict[str, str], tmp_path: Path
) -> None:
    folder = Path(certificates["ca_file"]).parent
    # Relative paths: resolved from the current directory (the run's cwd here).
    security = {name: Path(path).name for name, path in certificates.items()}
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(
            backend={
                "kind": "dask",
                "start_after_s": 0,
                "placement": "cluster",
                "security": security,
            }
        ),
    )
    serial = run_cli(
        "run",
        str(path),
        "--runs-dir",
        str(tmp_path / "serial"),
        "--set",
        "backend.kind=serial",
        cwd=folder,
    )
    assert serial.returncode == 0, serial.stderr
    tls = run_cli(
        "run",
        str(path),
        "--runs-dir",
        str(tmp_path / "tls"),
        "--scheduler",
        tls_scheduler,
        cwd=folder,
    )
    assert tls.returncode == 0, tls.stderr
    assert f"scheduler at {tls_scheduler}, 1 workers" in tls.stdout.splitlines()[0]
    reference = _fitness(Path(serial.stdout.splitlines()[-1]))
    assert len(reference) == 3
    assert _fitness(Path(tls.stdout.splitlines()[-1])) == reference


def test_plain_tcp_cannot_reach_the_tls_scheduler(tls_scheduler: str, tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    address = tls_scheduler.replace("tls://", "tcp://")
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--scheduler", address)
    line = _one_error_line(result, f"--scheduler: cannot reach a Dask scheduler at {address!r}")
    assert "tls://" in line and "backend.security" in line  # the hint
    assert not (tmp_path / "runs").exists()


def test_tls_address_without_security_is_bad_input(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"}),
    )
    result = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "runs"), "--scheduler", "tls://127.0.0.1:9"
    )
    line = _one_error_line(result, "backend.security: expected ca_file, cert_file and key_file")
    assert "'tls://127.0.0.1:9', found no security section" in line
    assert not (tmp_path / "runs").exists()


def test_security_with_a_tcp_address_is_bad_input(
    certificates: dict[str, str], tmp_path: Path
) -> None:
    config = tiny_config(
        backend={
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "security": certificates,
        }
    )
    path = write_config(tmp_path / "c.yaml", config)
    result = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "runs"), "--scheduler", "tcp://127.0.0.1:9"
    )
    _one_error_line(
        result, "backend.scheduler: expected a tls:// address (backend.security is set)"
    )
    assert not (tmp_path / "runs").exists()


def test_security_section_is_optional_and_round_trips(certificates: dict[str, str]) -> None:
    assert from_dict({}).backend.security is None
    config = from_dict(tiny_config(backend={"security": certificates}))
    assert config.backend.security == SecurityConfig(**certificates)
    assert from_dict(to_dict(config)) == config
    with pytest.raises(ConfigError) as error:
        from_dict(tiny_config(backend={"security": 5}))
    assert str(error.value) == "backend.security: expected a mapping or null, found 5"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"cert_file": "missing.pem"},
            "backend.security.cert_file: expected a readable file, found 'missing.pem'",
        ),
        (
            {"key_file": None},
            "backend.security.key_file: expected a file path (ca_file, cert_file and key_file "
            "go together), found null",
        ),
        ({"ca": "x"}, "backend.security.ca: unknown key"),
    ],
)
def test_bad_security_section_is_one_line(
    certificates: dict[str, str], tmp_path: Path, edit: dict, message: str
) -> None:
    config = tiny_config(
        backend={
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "security": {**certificates, **edit},
        }
    )
    path = write_config(tmp_path / "c.yaml", config)
    result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    _one_error_line(result, message)
    assert not (tmp_path / "runs").exists()


def test_embedded_cluster_over_tls(certificates: dict[str, str], tmp_path: Path) -> None:
    copies = {}
    for name, path in certificates.items():
        copies[name] = str(tmp_path / Path(path).name)
        shutil.copyfile(path, copies[name])
    serial = run(
        from_dict(tiny_config(backend={"kind": "serial"})),
        tmp_path / "serial",
        reporter=Reporter(quiet=True),
    )
    tls_config = from_dict(
        tiny_config(
            backend={
                "kind": "dask",
                "start_after_s": 0,
                "placement": "cluster",
                "workers": 1,
                "security": copies,
            }
        )
    )
    embedded = run(tls_config, tmp_path / "tls", reporter=Reporter(quiet=True))
    (start,) = [
        json.loads(line)
        for line in (embedded.path / "events.jsonl").read_text().splitlines()
        if json.loads(line)["event"] == "start"
    ]
    assert start["backend"].startswith("dask backend: embedded LocalCluster at tls://127.0.0.1:")
    assert _fitness(embedded.path) == _fitness(serial.path)
    # Replaying runs in-process: the run's certificates are not needed any more.
    for path in copies.values():
        Path(path).unlink()
    assert replay(embedded.path, tmp_path / "best.png", still=True, max_steps=5).steps == 5
