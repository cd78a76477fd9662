"""`evo export` of real runs as CSV, and pandas reading the logs as they are."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, tiny_config


def test_export_writes_the_metrics_as_csv(two_runs: list[Path], tmp_path: Path) -> None:
    out, events = tmp_path / "metrics.csv", tmp_path / "events.csv"
    result = run_cli("export", str(two_runs[0]), "--csv", str(out), "--events-csv", str(events))
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (two_runs[0] / "metrics.jsonl").open()]
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(metrics)
    for row, record in zip(rows, metrics, strict=True):
        assert int(row["generation"]) == record["generation"]
        assert float(row["fitness_max"]) == record["fitness_max"]  # no precision lost
        assert row.keys() >= record.keys()
    with events.open(newline="") as handle:
        assert next(r["event"] for r in csv.DictReader(handle)) == "start"
    nowhere = run_cli("export", str(two_runs[0]), "--csv", str(tmp_path / "no" / "m.csv"))
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def penalized_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short in-process run whose logs hold nulls, lists, mappings and infinities: some
    members' envs raise and score -inf (``on_error: penalize``)."""
    from evo.config import from_dict
    from evo.experiment import run

    env = {"id": "tests.helpers:Exploding-v0", "episodes": 1, "on_error": "penalize"}
    env["kwargs"] = {"explode_at": 3, "odd_seeds_only": True}
    config = tiny_config(generations=3, env=env, **{"final_eval.episodes": 0})
    return run(from_dict(config), tmp_path_factory.mktemp("pandas")).path


def _loaded_as(value: Any, written: Any, exact: bool) -> bool:
    """Whether pandas' ``value`` is the JSON value ``written``: null is NaN or None, the log's
    "inf"/"-inf" are infinities; floats bit for bit if ``exact``, else to the 15th decimal
    (pandas' default float parser, ``precise_float=False``, reads no more decimals than that
    and does not round correctly: no way of writing a float avoids it)."""
    if written is None:
        return value is None or (isinstance(value, float) and math.isnan(value))
    if written in ("inf", "-inf") and isinstance(value, float):
        return value == float(written)
    if isinstance(written, float) and not exact:
        return math.isclose(value, written, rel_tol=8 * sys.float_info.epsilon, abs_tol=1e-15)
    return bool(value == written)


@pytest.mark.parametrize("name", ["metrics.jsonl", "events.jsonl"])
def test_pandas_reads_the_logs_unchanged(penalized_run: Path, name: str) -> None:
    import pandas

    path = penalized_run / name
    written = [json.loads(line) for line in path.read_text().splitlines()]
    columns = list(dict.fromkeys(key for record in written for key in record))
    values = [v for record in written for v in record.values()]
    if name == "events.jsonl":  # the test covers what it should
        assert {list, dict, type(None)} <= {type(v) for v in values}
    else:
        assert "-inf" in values
    for exact in (False, True):
        frame = pandas.read_json(path, lines=True, precise_float=exact)
        assert list(frame.columns) == columns and len(frame) == len(written)
        for index, record in enumerate(written):
            for column in columns:
                value, expected = frame.at[index, column], record.get(column)
                assert _loaded_as(value, expected, exact), (index, column, value, expected)
