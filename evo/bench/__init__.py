"""Benchmarks printed by ``evo bench``: figures, not pass/fail (the tests check correctness)."""

from __future__ import annotations

from evo.bench.evolution import (
    ConfigBenchResult,
    EnvBenchResult,
    GenerationCost,
    RoundCost,
    bench_config,
    bench_env,
    bench_gradient,
    hardware_ceiling,
    soak,
)

__all__ = [
    "ConfigBenchResult",
    "EnvBenchResult",
    "GenerationCost",
    "RoundCost",
    "bench_config",
    "bench_env",
    "bench_gradient",
    "hardware_ceiling",
    "soak",
]
