"""The `evo` command itself: its version, and the console script importing like `python -m evo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, tiny_config, write_config

# What pip writes into bin/evo for `evo = "evo.cli:main"` (less the shebang).
CONSOLE_SCRIPT = "import sys\nfrom evo.cli import main\nsys.exit(main())\n"

HERE_MODULE = """\
import gymnasium

gymnasium.register(
    id="Here-v0",
    entry_point="gymnasium.envs.classic_control:CartPoleEnv",
    max_episode_steps=20,
)
"""


def test_version_is_the_package_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"evo {project['version']}\n"


def _console_script(tmp_path: Path, how: str) -> list[str]:
    if how == "installed":
        installed = shutil.which("evo")
        if installed is None:
            pytest.skip("no `evo` console script on PATH")
        return [installed]
    script = tmp_path / "bin" / "evo"  # not the working directory: as a real console script
    script.parent.mkdir()
    script.write_text(CONSOLE_SCRIPT)
    return [sys.executable, str(script)]


@pytest.mark.parametrize("how", ["script", "installed"])
def test_the_console_script_imports_modules_of_the_working_directory(
    tmp_path: Path, how: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "herenv.py").write_text(HERE_MODULE)
    env = {"id": "herenv:Here-v0", "episodes": 1}
    write_config(
        work / "here.yaml", tiny_config(generations=1, env=env, **{"final_eval.episodes": 0})
    )
    command = _console_script(tmp_path, how)
    result = subprocess.run(
        [*command, "run", "here.yaml", "--runs-dir", "runs", "--quiet"],
        capture_output=True,
        text=True,
        cwd=work,
        env={k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (work / "runs").iterdir()
    assert result.stdout.strip() == str(Path("runs") / run_dir.name)
    assert (run_dir / "summary.json").is_file()
