"""What the run folder's JSON records may hold: the typed checks its readers make, so
that a tampered or damaged line is a one-line :class:`~evo.errors.RunFolderError`
rather than a traceback in whichever command looks at it later.

Numbers are as :func:`evo.files.dumps` writes them: integers within int64, finite
floats, ``null`` for NaN and ``"inf"``/``"-inf"`` for the infinities.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from evo.errors import RunFolderError

INFINITIES = ("inf", "-inf")
_SCALARS = (type(None), bool, int, float, str)

# metrics.jsonl: the columns every reader takes as numbers (others are scalars of any kind).
METRIC_COUNTS = ("generation", "evaluations", "episodes", "env_steps", "samples", "failed")
METRIC_NUMBERS = (
    "fitness_max",
    "fitness_mean",
    "fitness_median",
    "fitness_min",
    "fitness_std",
    "solution_fitness",
    "best_so_far",
    "time_s",
    "write_s",
    "ask_s",
    "evaluate_s",
    "tell_s",
    "compute_s",
    "tasks",
    "workers",
    "bytes_sent",
    "bytes_received",
    "transfer_bytes",
    "retried",
    "longest_task_s",
    "loss",
    "accuracy",
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
    "gradient_norm",
    "update_norm",
    "param_norm",
    "sigma",
    "stdev_mean",
)
# summary.json: its numbers, and its counts.
SUMMARY_COUNTS = (
    "format",
    "generations",
    "evaluations",
    "env_steps",
    "samples",
    "num_params",
    "final_eval_episodes",
)
SUMMARY_NUMBERS = (
    "best_fitness",
    "final_eval_mean",
    "final_eval_std",
    "final_eval_min",
    "final_eval_max",
    "solve_threshold",
    "training_time_s",
    "wall_time_s",
    "test_accuracy",
    "test_loss",
)


def is_number(value: Any) -> bool:
    """A number as the run log writes one: an int or float (not a bool), null, or an infinity."""
    if value is None or value in INFINITIES:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_count(value: Any) -> bool:
    """A whole number that is not negative (and not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_metrics(where: str, record: dict[str, Any]) -> dict[str, Any]:
    """One line of ``metrics.jsonl``: a generation (a count), numbers where numbers are
    read, plain scalars elsewhere."""
    if not is_count(record.get("generation")):
        _refuse(where, "generation", "a whole number", record.get("generation"))
    for key in METRIC_COUNTS:
        if key in record and not is_count(record[key]):
            _refuse(where, key, "a whole number", record[key])
    for key in METRIC_NUMBERS:
        if key in record and not is_number(record[key]):
            _refuse(where, key, "a number", record[key])
    for key, value in record.items():
        if not isinstance(value, _SCALARS):
            _refuse(where, key, "a number or a word", value)
    return record


def check_event(where: str, record: dict[str, Any]) -> dict[str, Any]:
    """One line of ``events.jsonl``: an event's name, its time, its generation if any (a
    cluster event seen before the first generation ends has ``null``)."""
    if not isinstance(record.get("event"), str):
        _refuse(where, "event", "the event's name", record.get("event"))
    if "time" in record and not (is_number(record["time"]) and record["time"] is not None):
        _refuse(where, "time", "a time in seconds", record["time"])
    if record.get("generation") is not None and not is_count(record["generation"]):
        _refuse(where, "generation", "a whole number", record["generation"])
    return record


def check_summary(where: str, summary: Any) -> dict[str, Any]:
    """``summary.json``: an object with its counts and numbers as such."""
    if not isinstance(summary, dict):
        raise RunFolderError(f"{where}: expected a JSON object, found {type(summary).__name__}")
    for key in SUMMARY_COUNTS:
        if summary.get(key) is not None and not is_count(summary[key]):
            _refuse(where, key, "a whole number", summary[key])
    for key in SUMMARY_NUMBERS:
        if key in summary and not is_number(summary[key]):
            _refuse(where, key, "a number", summary[key])
    return summary


def check_checkpoint(where: str, meta: Any) -> dict[str, Any]:
    """A checkpoint's metadata (``gen-NNNNNN.json``): counts, a seed, a time, a config."""
    where = f"{where}: not a checkpoint of this run"
    if not isinstance(meta, dict):
        raise RunFolderError(f"{where}: expected a JSON object, found {type(meta).__name__}")
    for key in ("generation", "evaluations", "env_steps", "seed"):
        if key in meta and not is_count(meta[key]):
            _refuse(where, key, "a whole number", meta[key])
    if not is_count(meta.get("generation")):
        _refuse(where, "generation", "a whole number", meta.get("generation"))
    elapsed = meta.get("elapsed_s", 0.0)
    if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool) or elapsed < 0:
        _refuse(where, "elapsed_s", "a time in seconds", elapsed)
    if meta.get("config") is not None and not isinstance(meta["config"], dict):
        _refuse(where, "config", "a mapping", meta["config"])
    return meta


def _refuse(where: str, key: str, expected: str, found: Any) -> None:
    text = repr(found)
    text = text if len(text) <= 40 else text[:37] + "..."
    raise RunFolderError(f"{where}: {key!r}: expected {expected}, found {text}")


def check_best(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``best.npz`` (or a member exported as it): a vector of parameters, the policy spec as
    text, a fitness; its other arrays (observation statistics) are checked by their reader."""
    shapes = {"params": ("f", 1), "policy_spec": ("U", 0), "fitness": ("fiu", 0)}
    for name, (kinds, ndim) in shapes.items():
        array = arrays.get(name)
        if name == "fitness" and array is None:
            continue
        if array is None or array.dtype.kind not in kinds or array.ndim != ndim:
            found = "nothing" if array is None else f"{array.dtype}{list(array.shape)}"
            raise RunFolderError(f"{path}: {name!r} is {found}, not what evo writes")
    return arrays


T = TypeVar("T")


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """A state as named arrays (scalars as 0-d arrays) for an ``.npz`` checkpoint
    (an optional field that is None is left out)."""
    fields = dataclasses.fields(state)
    values = {f.name: getattr(state, f.name) for f in fields}
    return {name: np.asarray(value) for name, value in values.items() if value is not None}


def state_from_arrays(state_class: type[T], arrays: dict[str, np.ndarray]) -> T:
    """Inverse of :func:`state_arrays`. A field with a default may be missing (a
    checkpoint written before the field existed)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(state_class):
        if f.name not in arrays and f.default is not dataclasses.MISSING:
            continue
        array = arrays[f.name]
        values[f.name] = array.item() if array.ndim == 0 else array
    return state_class(**values)
