"""Hypothesis profiles: "default" (a few hundred examples in the default suite, the same
ones every time, so that CI is not flaky) and "slow" (thousands, for ``-m slow``)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "default", max_examples=100, deadline=None, derandomize=True, suppress_health_check=_QUIET
)
settings.register_profile(
    "slow", max_examples=2000, deadline=None, derandomize=True, suppress_health_check=_QUIET
)
settings.load_profile("default")
