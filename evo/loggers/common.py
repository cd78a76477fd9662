"""What the TensorBoard and MLflow loggers share: a metrics line's scalars, the config as
flat params, a generation's member fitness, and the one-line error of a missing package."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from evo.errors import ConfigError
from evo.runlog import RunFolder, RunRecord

# The summary's numbers logged beside the metrics (at the last generation's step).
SUMMARY_SCALARS = (
    "best_fitness",
    "final_eval_mean",
    "final_eval_std",
    "final_eval_min",
    "final_eval_max",
    "test_accuracy",
    "test_loss",
    "training_time_s",
    "wall_time_s",
)


def require(package: str, key: str, extra: str) -> None:
    """A :class:`ConfigError` naming ``key`` (``logging.mlflow``, ``--mlflow``) when
    ``package`` is not installed."""
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"{key}: expected the {package} package installed "
            f"(pip install 'evo[{extra}]'), found it missing"
        )


def scalars(record: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """Every column of a metrics line (or summary) that holds a finite number, as floats
    (true/false as 1/0); null, infinities, text and nested values are left out."""
    for key, value in record.items():
        if isinstance(value, (int, float)) and math.isfinite(value):  # bool is an int
            yield key, float(value)


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The resolved config as dotted keys (``algorithm.sigma``), the values as JSON
    (``0.1``, ``true``, ``null``, ``[32, 32]``) but strings as they are; a section that is
    null (``function: null``) is one key."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_params(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def member_fitness(folder: RunFolder, generation: int) -> np.ndarray | None:
    """A generation's finite member fitness values from its lineage (None: no lineage, as
    in gradient mode); failed (NaN) and penalised (-inf) members are left out."""
    path = folder.lineage_path(generation)
    if not path.exists():
        return None
    fitness = np.asarray(folder.read_lineage(generation)["fitness"], dtype=float)
    return fitness[np.isfinite(fitness)]


def started_at(run: RunRecord) -> float | None:
    """The wall-clock time (seconds since the epoch) the run started, from its events."""
    for event in run.events:
        if event.get("event") == "start" and isinstance(event.get("time"), (int, float)):
            return float(event["time"])
    return None


def line_times(run: RunRecord) -> list[float | None]:
    """Each metrics line's wall-clock time: the start plus its ``time_s`` (None: unknown)."""
    start = started_at(run)
    times: list[float | None] = []
    for record in run.metrics:
        elapsed = record.get("time_s")
        ok = start is not None and isinstance(elapsed, (int, float)) and math.isfinite(elapsed)
        times.append(start + elapsed if ok else None)  # type: ignore[operator]
    return times
