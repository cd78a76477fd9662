"""Sweep tests' helpers: a small config on 2 workers, and one real sweep the package shares."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FITNESS_COLUMNS, run_cli, tiny_config, write_config


def small_config(**overrides: Any) -> dict[str, Any]:
    """CartPole, population 8, 3 generations, on an embedded cluster of 2 workers."""
    config = tiny_config(
        **{"algorithm.population_size": 8, "final_eval.episodes": 2, "backend.workers": 2}
    )
    config["backend"]["kind"] = "dask"
    for key, value in overrides.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def fitness_columns(run_dir: Path) -> list[dict[str, Any]]:
    """The columns of each logged generation that must not depend on where it ran."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{key: row[key] for key in FITNESS_COLUMNS} for row in rows]


@pytest.fixture(scope="package")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """2 settings x 2 seeds through the real command line, on one 2-worker cluster."""
    tmp = tmp_path_factory.mktemp("sweep")
    config = write_config(tmp / "small.yaml", small_config())
    result = run_cli(
        "sweep",
        str(config),
        "--seeds",
        "0-1",
        "--grid",
        "algorithm.sigma=0.05,0.1",
        "--set",
        "generations=3",
        "--runs-dir",
        str(tmp / "runs"),
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), result
