"""A sweep's plan: `--seeds` and `--grid` parsed; bad input stops before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from evo.errors import ConfigError
from evo.sweep import parse_grid, parse_seeds, run_sweep
from tests.conftest import run_cli, write_config
from tests.sweep.conftest import small_config


def test_seeds_and_grids_are_parsed() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,7") == [0, 2, 7]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-1,9") == [0, 1, 9]
    for bad in ("4-2", "a", "-1", "1,1", "", "1-"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    grid = parse_grid(["algorithm.sigma=0.02,0.05", "policy.hidden_sizes=[8],[16, 16]"])
    assert grid == {"algorithm.sigma": [0.02, 0.05], "policy.hidden_sizes": [[8], [16, 16]]}
    assert parse_grid(["policy.activation=tanh,relu"]) == {"policy.activation": ["tanh", "relu"]}
    for bad in ("sigma", "=1,2", "seed=1,2", "backend.workers=1,2", "a.b=1,1", "a.b=[1"):
        with pytest.raises(ConfigError, match="--grid"):
            parse_grid([bad])
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["a.b=1", "a.b=2"])


def test_bad_input_stops_before_anything_is_written(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", small_config())
    runs = tmp_path / "runs"
    bad_key = run_cli(
        "sweep", str(config), "--grid", "algorithm.sigmaa=0.1,0.2", "--runs-dir", str(runs)
    )
    assert bad_key.returncode == 2, bad_key.stderr
    assert bad_key.stderr.count("\n") == 1 and "did you mean 'sigma'" in bad_key.stderr
    assert not runs.exists()
    # A value that is wrong for one setting only: still nothing is written.
    with pytest.raises(ConfigError, match=r"algorithm\.sigma"):
        run_sweep(config, [0], {"algorithm.sigma": [0.1, -1.0]}, runs_dir=runs)
    with pytest.raises(ConfigError, match="--set seed"):
        run_sweep(config, [0], overrides=["seed=3"], runs_dir=runs)
    with pytest.raises(ConfigError, match="--parallel"):
        run_sweep(config, [0], parallel=0, runs_dir=runs)
    assert not runs.exists()
    no_config = run_cli("sweep", "--seeds", "0-1")
    assert no_config.returncode == 2 and no_config.stderr.count("\n") == 1
