"""`evo serve` from the command line: bad input, Ctrl-C, and a folder it never writes to."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config
from tests.serve.conftest import serving


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one short finished run."""
    folder = tmp_path_factory.mktemp("serve")
    config = write_config(folder / "c.yaml", tiny_config(generations=3))
    result = run_cli("run", str(config), "--runs-dir", str(folder / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    return folder / "runs"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
    }


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def test_ctrl_c_stops_it_cleanly_and_nothing_is_written(finished: Path) -> None:
    before = _snapshot(finished)
    with serving(finished) as (process, url):
        page = _get(url)  # a session: the folder is listed and the newest run read
        assert "<title>evo" in page
        run = next(finished.iterdir()).name
        assert "<title>evo" in _get(f"{url}?run={run}")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert errors.strip().splitlines()[-1] == "evo serve: stopped", errors
    assert "Traceback" not in errors
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert _snapshot(finished) == before  # not a file added, changed or touched


def test_sigterm_stops_it_too(finished: Path) -> None:
    with serving(finished) as (process, _):
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no-such-folder"], "no-such-folder: no such folder"),
        (["--port", "70000"], "expected a port from 0 to 65535, found 70000"),
        (["--interval", "0"], "expected 0.1 to 3600 seconds, found 0"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = run_cli("serve", *arguments, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_line(finished: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", str(finished), "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"evo: error: --host 127.0.0.1 --port {port}: cannot listen")
    assert result.stderr.count("\n") == 1, result.stderr


def test_an_empty_folder_is_served_and_left_empty(tmp_path: Path) -> None:
    with serving(tmp_path) as (_, url):
        assert "<title>evo" in _get(url)  # served, with nothing to read
    assert list(tmp_path.iterdir()) == []


def test_the_help_names_the_defaults() -> None:
    result = run_cli("serve", "--help", timeout=60)
    assert result.returncode == 0
    assert "127.0.0.1" in result.stdout and "default: 5007" in result.stdout
