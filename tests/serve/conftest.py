"""What the tests of `evo serve` share: the real command serving a folder, and a real
headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_cli

URL = re.compile(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)")


@contextlib.contextmanager
def serving(folder: Path, *options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`evo serve FOLDER --port 0` in a subprocess and the URL it printed; stopped with
    SIGINT at the end (its process group killed if it does not stop)."""
    process = start_cli("serve", str(folder), "--port", "0", *options)
    try:
        line = process.stdout.readline()
        found = URL.search(line)
        if found is None:
            process.kill()
            _, errors = process.communicate(timeout=30)
            pytest.fail(f"evo serve printed {line!r}, stderr {errors!r}")
        yield process, found.group(1)
    finally:
        stop(process)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Interrupt ``process`` as Ctrl-C would; kill its process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _browser_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium under Selenium (skipped without Debian's chromium and
    chromium-driver, except in CI, where their absence fails)."""
    paths = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        paths, reason = None, "needs selenium (pip install -e '.[test]')"
    else:
        reason = "needs Debian's chromium and chromium-driver (apt-get install them)"
    if paths is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1500,1300")
    # The driver is named, so Selenium looks nothing up and downloads nothing.
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def poll(read: Any, until: Any, timeout: float = 60, every: float = 0.25) -> Any:
    """Call ``read()`` until ``until(value)`` holds; the last value (the test asserts it)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value
