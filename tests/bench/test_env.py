"""`evo bench env` prints one row of race-track throughput per batch size."""

from __future__ import annotations

from tests.conftest import run_cli


def test_bench_env_prints_one_row_per_batch_size() -> None:
    result = run_cli("bench", "env", "--cars", "1,16", "--repeats", "2", "--steps", "5")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1", "16"]
    assert all(float(row[1].replace(",", "")) > 0 for row in rows)
    bad = run_cli("bench", "env", "--cars", "a,b")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
