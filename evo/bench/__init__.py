"""Benchmarks printed by ``evo bench``: figures, not pass/fail (the tests check correctness)."""

from __future__ import annotations

from evo.bench.ceiling import hardware_ceiling
from evo.bench.costs import GenerationCost, RoundCost, median_cost
from evo.bench.env import EnvBenchResult, bench_env
from evo.bench.evolution import ConfigBenchResult, bench_config
from evo.bench.figures import config_figures
from evo.bench.gradient import bench_gradient
from evo.bench.limits import measure_limit
from evo.bench.soak import soak

__all__ = [
    "ConfigBenchResult",
    "EnvBenchResult",
    "GenerationCost",
    "RoundCost",
    "bench_config",
    "bench_env",
    "bench_gradient",
    "config_figures",
    "hardware_ceiling",
    "measure_limit",
    "median_cost",
    "soak",
]
