"""`evo bench CONFIG`: the same generations serially and on Dask, with identical fitness."""

from __future__ import annotations

import math

from evo.bench import ConfigBenchResult, bench_config, config_figures
from evo.bench.figures import rate_text
from evo.config import from_dict
from tests.conftest import tiny_config


def test_bench_config_reports_both_backends_and_identical_fitness() -> None:
    config = from_dict(tiny_config(**{"algorithm.population_size": 8, "backend.workers": 2}))
    lines: list[str] = []
    result = bench_config(config, generations=1, repeats=2, report=lines.append)
    assert result.identical and (result.workers, result.threads) == (2, 2)
    assert len(result.serial) == len(result.dask) == len(result.speedups) == 2
    assert len(result.ceilings) == len(result.limits) == 2
    # Every member, and the strategy's own candidates (the ES centre), on both backends.
    assert len({cost.members for cost in [*result.serial, *result.dask]}) == 1
    assert result.serial[0].members >= result.population == 8
    assert lines[0].startswith("evo bench tiny: openai_es, population 8, ")
    assert lines[0].endswith("dask: 2 workers, 2 threads")
    assert lines[1].startswith("generations 2-2 x 2 repeats")
    assert [line.split(":")[0] for line in lines[2:4]] == ["  repeat 1", "  repeat 2"]
    assert all("env limit" in line for line in lines[2:4])
    assert lines[4].split() == ["serial", "dask", "dask/serial"]
    labels = [line[:34].strip() for line in lines[5:15]]
    assert labels == [
        "evaluations/s",
        "env steps/s",
        "generation (ms)",
        "evaluate (ms)",
        "longest task (ms)",
        "ask + tell (ms)",
        "orchestration overhead (ms/gen)",
        "bytes sent / gen",
        "bytes received / gen",
        "bytes workers served / gen",
    ]
    serial_steps, dask_steps = (int(x.replace(",", "")) for x in lines[6].split()[2:4])
    assert serial_steps > 0 and dask_steps > 0  # CartPole steps per second, both backends
    assert [line.split("  ")[0] for line in lines[15:21]] == [
        "speedup (dask vs serial)",
        "parallel efficiency",
        "hardware ceiling",
        "evaluations/s ratio of ceiling",
        "env limit (one core)",
        "per-worker env steps/s",
    ]
    assert "CartPole-v1's lockstep vector env" in lines[19]
    assert lines[21].startswith("traffic vs shipping every member's vector: ")
    assert lines[22:] == ["fitness identical on both backends: yes"]
    _check_figures(result, lines, config.env.episodes)


def _check_figures(result: ConfigBenchResult, lines: list[str], episodes: int) -> None:
    """The JSON figures agree with each other and with the table."""
    figures = config_figures(result)
    serial, dask, limit = figures["serial"], figures["dask"], figures["env_limit"]
    for key in ("evaluations_per_s", "env_steps_per_s"):
        assert serial[key] > 0 and dask[key] > 0
        assert math.isclose(figures["ratio"][key], dask[key] / serial[key])
    assert math.isclose(
        figures["ratio_of_ceiling"], figures["ratio"]["evaluations_per_s"] / figures["ceiling"]
    )
    # Lanes of a Dask task: every member's episodes, over the tasks of a generation (the
    # first repeat's, measured before the first limit).
    first = result.dask[0]
    assert limit["lanes"] == math.ceil(first.members * episodes / first.tasks)
    assert limit["lane_steps_per_cpu_s"] > 0
    per_worker = dask["env_steps_per_s"] / figures["workers"]
    assert math.isclose(limit["per_worker_env_steps_per_s"], per_worker)
    assert math.isclose(limit["efficiency"], per_worker / limit["lane_steps_per_cpu_s"])
    assert figures["repeats"] == 2 and len(dask["env_steps_per_s_repeats"]) == 2
    table = {line[:34].strip(): line[34:].split() for line in lines}
    assert table["evaluations/s"] == [
        rate_text(serial["evaluations_per_s"]),
        rate_text(dask["evaluations_per_s"]),
        f"{figures['ratio']['evaluations_per_s']:.2f}x",
    ]
    assert table["env limit (one core)"][0] == f"{limit['lane_steps_per_cpu_s']:,.0f}"
