"""`evo bench CONFIG` of a gradient config: in process and on 1 and 2 workers, the same numbers."""

from __future__ import annotations

from evo.bench import bench_gradient
from evo.config import from_dict
from tests.conftest import tiny_config


def test_bench_gradient_reports_three_backends_and_identical_parameters() -> None:
    raw = tiny_config(
        name="spiral-sgd",
        mode="gradient",
        data={"name": "spiral"},
        policy={"hidden_sizes": [16], "activation": "relu"},
        gradient={"optimizer": "adam", "learning_rate": 0.01, "batch_size": 64, "shards": 8},
    )
    raw.pop("algorithm")
    raw.pop("env")
    lines: list[str] = []
    figures = bench_gradient(from_dict(raw), rounds=1, repeats=1, report=lines.append)
    assert figures["identical"] == 1.0
    assert set(figures) == {"speedup", "versus_serial", "ceiling", "task_ceiling", "identical"}
    assert all(value > 0 for value in figures.values())
    assert lines[0].startswith("evo bench spiral-sgd: gradient (adam), batch 64, 8 shards, ")
    assert lines[1].startswith("rounds 2-2 x 1 repeats")
    assert lines[2].startswith("  repeat 1: serial ") and "1 worker" in lines[2]
    assert lines[3].split() == ["per", "round", "(median)", "serial", "1", "worker", "2", "workers"]
    labels = [line[:30].strip() for line in lines[4:10]]
    assert labels == [
        "round (ms)",
        "longest task (ms)",
        "backend overhead (ms)",
        "reduce + step (ms)",
        "bytes sent",
        "bytes received",
    ]
    assert [line[:30].strip() for line in lines[10:14]] == [
        "speedup 2 workers vs 1",
        "hardware ceiling",
        "this task's ceiling",
        "speedup 2 workers vs serial",
    ]
    assert lines[14:] == ["parameters identical on all three: yes"]
