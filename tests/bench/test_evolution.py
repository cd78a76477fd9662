"""`evo bench CONFIG`: the same generations serially and on Dask, with identical fitness."""

from __future__ import annotations

from evo.bench import bench_config
from evo.config import from_dict
from tests.conftest import tiny_config


def test_bench_config_reports_both_backends_and_identical_fitness() -> None:
    config = from_dict(tiny_config(**{"algorithm.population_size": 8, "backend.workers": 2}))
    lines: list[str] = []
    result = bench_config(config, generations=1, repeats=2, report=lines.append)
    assert result.identical and (result.workers, result.threads) == (2, 2)
    assert len(result.serial) == len(result.dask) == len(result.speedups) == 2
    # Every member, and the strategy's own candidates (the ES centre), on both backends.
    assert len({cost.members for cost in [*result.serial, *result.dask]}) == 1
    assert result.serial[0].members >= result.population == 8
    assert lines[0].startswith("evo bench tiny: openai_es, population 8, ")
    assert lines[0].endswith("dask: 2 workers, 2 threads")
    assert lines[1].startswith("generations 2-2 x 2 repeats")
    assert [line.split(":")[0] for line in lines[2:4]] == ["  repeat 1", "  repeat 2"]
    assert lines[4].split() == ["serial", "dask"]
    labels = [line[:34].strip() for line in lines[5:15]]
    assert labels == [
        "evaluations/s",
        "generation (ms)",
        "env steps/s",
        "evaluate (ms)",
        "longest task (ms)",
        "ask + tell (ms)",
        "orchestration overhead (ms/gen)",
        "bytes sent / gen",
        "bytes received / gen",
        "dask worker transfers / gen",
    ]
    serial_steps, dask_steps = (int(x.replace(",", "")) for x in lines[7].split()[-2:])
    assert serial_steps > 0 and dask_steps > 0  # CartPole steps per second, both backends
    assert [line.split("  ")[0] for line in lines[15:18]] == [
        "speedup (dask vs serial)",
        "parallel efficiency",
        "hardware ceiling",
    ]
    assert lines[18].startswith("traffic vs shipping every member's vector: ")
    assert lines[19:] == ["fitness identical on both backends: yes"]
