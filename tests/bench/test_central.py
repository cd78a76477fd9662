"""The central-step bench: every ES strategy's ask + tell, timed, at a small size."""

from __future__ import annotations

import subprocess
import sys

from evo.bench.central import STRATEGIES, bench_central
from tests.conftest import REPO


def test_each_strategy_is_timed_at_the_size_asked() -> None:
    for name in STRATEGIES:
        cost = bench_central(name, population=20, num_params=300, repeats=2)
        assert (cost.strategy, cost.population, cost.num_params) == (name, 20, 300)
        assert cost.ask_ms > 0 and cost.tell_ms > 0
        assert cost.step_ms >= max(cost.ask_ms, cost.tell_ms)


def test_the_script_prints_a_line_a_strategy() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evo.bench.central",
            "--population",
            "10",
            "--params",
            "50",
            "--repeats",
            "1",
            "--strategies",
            "snes,ars",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ask + tell, population 10, 50 parameters")
    assert [line.split()[0] for line in lines[1:]] == ["snes", "ars"]
