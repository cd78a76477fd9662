"""What the tests of the read side share: real run folders, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short in-process runs (different seeds) in one runs folder."""
    folder = tmp_path_factory.mktemp("plots")
    runs = []
    for seed in (1, 2):
        path = write_config(folder / f"c{seed}.yaml", tiny_config(seed=seed, generations=4))
        result = run_cli("run", str(path), "--runs-dir", str(folder / f"runs{seed}"), "--quiet")
        assert result.returncode == 0, result.stderr
        runs.append(Path(result.stdout.strip()))
    return runs
