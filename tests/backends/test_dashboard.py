"""The Dask dashboard that `evo run` prints serves its status page while the run goes on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_cli, tiny_config, write_config

DASHBOARD = re.compile(r"dashboard (http://127\.0\.0\.1:\d+/status)")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """An `evo run` on an embedded 2-worker LocalCluster, and the dashboard URL it printed;
    interrupted (and its process group killed if need be) at the end of the test."""
    config = tiny_config(
        generations=100_000,
        backend={"kind": "dask", "start_after_s": 0, "placement": "cluster", "workers": 2},
    )
    path = write_config(tmp_path / "long.yaml", config)
    process = start_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    try:
        url, seen = None, []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            seen.append(line)
            url = url or (found.group(1) if (found := DASHBOARD.search(line)) else None)
            if url and line.startswith("gen "):
                break  # the run is going: a generation is done
        else:
            pytest.fail(f"no dashboard link and generation line within 120 s: {seen}")
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read().decode("utf-8", "replace")
        return response.status, response.headers.get_content_type(), body


def test_the_printed_dashboard_serves_its_status_page(running) -> None:
    process, url = running
    status, kind, page = _get(url)
    assert (status, kind) == (200, "text/html")
    assert "Dask needs bokeh" not in page
    assert "<title>Dask Diagnostic UI</title>" in page
    # The page's Bokeh JavaScript comes from the dashboard itself, not from the internet.
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page)
    bokeh = [src for src in scripts if "bokeh.min.js" in src]
    assert bokeh and not any(src.startswith(("http:", "https:", "//")) for src in scripts)
    script_status, script_kind, script = _get(urllib.parse.urljoin(url, bokeh[0]))
    assert script_status == 200 and "javascript" in script_kind and len(script) > 100_000
    # A plot's document for the status page: the dashboard's own Bokeh server answers.
    assert _get(url.replace("/status", "/individual-task-stream"))[0] == 200
    assert process.poll() is None, "the run ended while the dashboard was being read"
