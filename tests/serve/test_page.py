"""The live page in a real headless Chromium, on a run folder a running experiment appends to."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_config, wait_for_generations, write_config
from tests.serve.conftest import poll, serving, stop

# What the browser's copy of the page holds: the fitness plot's data and the run's header.
GENERATIONS = """
const doc = window.Bokeh && Bokeh.documents[0];
const source = doc && doc.get_model_by_name('fitness_source');
return source ? Array.from(source.data.generation) : null;
"""
HEADER = """
const doc = window.Bokeh && Bokeh.documents[0];
const header = doc && doc.get_model_by_name('header');
return header ? header.text : '';
"""


@pytest.fixture
def experiment(tmp_path: Path):
    """A long serial CartPole run, going (two generations logged), interrupted at the end."""
    config = tiny_config(generations=100_000, stop={"target_fitness": None, "max_time_s": 120})
    config["env"]["episodes"] = 6
    path = write_config(tmp_path / "long.yaml", config)
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(runs), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_generations(runs, 2)
        yield process, runs
    finally:
        stop(process)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def _lines(runs: Path) -> int:
    (metrics,) = runs.glob("*/metrics.jsonl")
    return len(metrics.read_text().splitlines())


def test_the_page_shows_the_generations_and_follows_the_run(browser, experiment) -> None:
    process, runs = experiment
    with serving(runs, "--interval", "0.5") as (_, url):
        browser.get(url)
        shown = poll(lambda: browser.execute_script(GENERATIONS), lambda g: g and len(g) >= 2)
        assert shown and shown == list(range(1, len(shown) + 1)), str(shown)
        assert len(shown) <= _lines(runs)
        assert "running" in browser.execute_script(HEADER)

        # New lines arrive in metrics.jsonl: the plot in the browser grows with them.
        seen = len(shown)
        later = poll(lambda: browser.execute_script(GENERATIONS), lambda g: len(g) > seen + 2)
        assert len(later) > seen + 2 and later == list(range(1, len(later) + 1))

        # The run stops: the page catches up with every line and says how it ended.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130, process.stderr.read().decode()
        total = _lines(runs)
        final = poll(lambda: browser.execute_script(GENERATIONS), lambda g: len(g) == total)
        assert final == list(range(1, total + 1))
        header = poll(lambda: browser.execute_script(HEADER), lambda h: "interrupted" in h)
        assert "interrupted" in header and f"generation <b class='evo-generation'>{total}</b>" in (
            header
        )

        # Everything the page loaded came from evo serve itself: nothing from the internet.
        sources = browser.execute_script(
            "return Array.from(document.querySelectorAll('script[src], link[href]'))"
            ".map(e => e.src || e.href)"
        )
        assert sources and all(src.startswith(url) for src in sources), sources
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_a_sweep_shows_its_settings_by_seeds(browser, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config(generations=3))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "evo", "sweep", str(config), "--seeds", "0,1", "--quiet"),
            *("--grid", "algorithm.sigma=0.05,0.1", "--runs-dir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    sweep = Path(result.stdout.strip())
    record = json.loads((sweep / "sweep.json").read_text())
    with serving(tmp_path) as (_, url):
        browser.get(f"{url}?run={sweep.name}")
        read = """
        const doc = window.Bokeh && Bokeh.documents[0];
        const table = doc && doc.get_model_by_name('sweep_table');
        return table ? table.text : '';
        """
        text = poll(lambda: browser.execute_script(read), lambda t: t.count("<tr>") == 3)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in text.split("<tr>")[2:]]
    assert [row[0] for row in rows] == ["sigma=0.05", "sigma=0.1"], text
    for row, setting in zip(rows, ("sigma=0.05", "sigma=0.1"), strict=True):
        for seed, cell in zip((0, 1), row[1:3], strict=True):
            (entry,) = [e for e in record["runs"] if (e["setting"], e["seed"]) == (setting, seed)]
            summary = json.loads((sweep / entry["folder"] / "summary.json").read_text())
            link = f"<a href='?run={sweep.name}/{entry['folder'].replace('=', '%3D')}'>"
            assert cell == f"{link}{summary['final_eval_mean']:.2f}</a>", cell
        assert row[3] == "2/2"
