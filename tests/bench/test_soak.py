"""`evo bench CONFIG --soak N`: the orchestrator's memory through a real run."""

from __future__ import annotations

from evo.bench import soak
from evo.config import from_dict
from tests.conftest import tiny_config


def test_soak_reports_the_memory_of_every_tenth_of_the_run() -> None:
    lines: list[str] = []
    figures = soak(from_dict(tiny_config()), 20, baseline=5, report=lines.append)
    assert set(figures) == {"rss_baseline_mib", "rss_end_mib", "rss_max_mib", "growth_percent"}
    assert figures["rss_max_mib"] >= figures["rss_end_mib"] > 0
    assert lines[0] == "soak tiny: 20 generations, orchestrator RSS"
    shown = [int(line.split(":")[0].split()[-1]) for line in lines[1:-1]]
    assert shown == [2, 4, 5, 6, 8, 10, 12, 14, 16, 18, 20]
    assert lines[-1].startswith("RSS after 5 generations ")
