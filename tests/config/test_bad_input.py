"""Bad input is one line and exit 2, checked before any run folder exists: integers past
int64, infinities, names that do not fit a file system, deep nesting, duplicate keys,
configs that are not regular files, and runs no orchestrator could hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config


def _refused(tmp_path: Path, *args: str, says: str) -> None:
    runs = tmp_path / "runs"
    result = run_cli("run", *args, "--runs-dir", str(runs), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evo: error: "), result.stderr
    assert says in lines[0], lines[0]
    assert not runs.exists()  # nothing written


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            "seed=" + "9" * 5000,
            "--set seed: the value '999999999999999999999999999999'...",
        ),  # Python will not even read it
        ("seed=" + "9" * 30, "seed: expected an integer within +-9223372036854775807"),
        ("algorithm.sigma=.inf", "algorithm.sigma: expected a finite number, found inf"),
        ("algorithm.sigma=1e309", "algorithm.sigma: expected a finite number, found inf"),
        ("algorithm.learning_rate=-.inf", "expected a finite number, found -inf"),
        ("algorithm.sigma=.nan", "algorithm.sigma: expected a finite number, found NaN"),
        ("name=" + "x" * 300, "name: expected at most 100 letters"),
        ("name=../escape", "name: expected at most 100 letters"),
        ("algorithm.sigma=" + "[" * 40 + "]" * 40, "nested deeper than 32 levels"),
        ("algorithm.population_size=" + "1" + "0" * 15, "GiB in the orchestrator"),
        ("policy.hidden_sizes=[100000, 100000]", "10,000,800,002 parameters"),
    ],
)
def test_a_bad_value_is_one_line(tmp_path: Path, override: str, says: str) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config())
    _refused(tmp_path, str(config), "--set", override, says=says)


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: first\nseed: 1\nname: second\n")
    _refused(tmp_path, str(path), says="line 3, column 1: duplicate key 'name'")


def test_only_a_regular_file_of_sensible_size_is_a_config(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    _refused(tmp_path, str(fifo), says="expected a regular file")
    _refused(tmp_path, "/dev/zero", says="expected a regular file")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "# padding\n" * 200_000)
    _refused(tmp_path, str(big), says="expected a config of at most 1048576 bytes")
