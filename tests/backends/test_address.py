"""Where a run's scheduler is found, and that finding none costs no Dask import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dask.config

from evo.backends.address import dask_config_paths
from tests.conftest import tiny_config, write_config

ADDRESS_OF = """
import sys
from evo.backends.address import address_source
from evo.config import from_dict
from tests.conftest import tiny_config
print(address_source(from_dict(tiny_config()).backend))
print("dask" in sys.modules)
"""

SHORT_RUN = """
import sys
from evo.cli import main
code = main()
print(sorted({name.split(".")[0] for name in sys.modules} & {"dask", "distributed"}))
sys.exit(code)
"""


def _without_dask_variables(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    return {**env, **extra}


def _python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )


def test_the_folders_searched_are_dasks_own() -> None:
    # Dask's list, as it read its environment at import, less DASK_CONFIG (a DASK_ variable
    # alone makes evo read Dask's config). Fails if a Dask release searches elsewhere.
    theirs = [p for p in dask.config.paths if p != os.environ.get("DASK_CONFIG")]
    assert dask_config_paths() == theirs


def test_an_address_in_a_config_file_of_the_home_folder_is_found(tmp_path: Path) -> None:
    folder = tmp_path / ".config" / "dask"
    folder.mkdir(parents=True)
    (folder / "cluster.yaml").write_text(json.dumps({"scheduler-address": "10.1.2.3:8786"}))
    done = _python(ADDRESS_OF, env=_without_dask_variables(HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "('10.1.2.3:8786', \"Dask's config (scheduler-address)\")",
        "True",
    ]


def test_without_any_dask_config_nothing_is_found_and_dask_is_not_imported(
    tmp_path: Path,
) -> None:
    done = _python(ADDRESS_OF, env=_without_dask_variables(HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["None", "False"]
    # A DASK_ variable of any name may be Dask's config: Dask is asked.
    asked = _python(ADDRESS_OF, env=_without_dask_variables(HOME=str(tmp_path), DASK_X="1"))
    assert asked.stdout.splitlines() == ["None", "True"]


def test_a_run_that_starts_no_cluster_never_imports_dask(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tiny_config(backend={"kind": "dask"}))
    args = ["run", str(path), "--runs-dir", str(tmp_path / "runs")]
    done = _python(SHORT_RUN, *args, env=_without_dask_variables(HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("dask backend:")
    assert done.stdout.splitlines()[-1] == "[]"
