"""The built wheel, installed into a fresh virtual environment outside the checkout: it
carries the shipped configs, the licence and the typing marker, and runs a config by name."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from evo import __version__
from evo.config.shipped import shipped_names
from tests.conftest import REPO

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "evo", "envs")


def _need_wheel() -> None:
    # setuptools before 70.1 builds wheels with the `wheel` package (in the test extra).
    if importlib.util.find_spec("wheel") is None and importlib.util.find_spec("setuptools"):
        if os.environ.get("CI") == "true":
            pytest.fail("the `wheel` package is missing: pip install -e '.[test]'")
        pytest.skip("the `wheel` package is not installed (pip install -e '.[test]')")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout (the checkout itself stays untouched)."""
    _need_wheel()
    root = tmp_path_factory.mktemp("build")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        root / "dist",
        source,
        cwd=root,
    )
    (built,) = (root / "dist").glob("evo-*.whl")
    return built


def test_the_wheel_carries_configs_licence_and_typing_marker(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert f"evo-{__version__}.dist-info/LICENSE" in names
    assert "evo/py.typed" in names
    assert {f"evo/configs/{name}.yaml" for name in shipped_names()} <= names
    assert "envs/racetrack/__init__.py" in names
    assert not any(name.startswith(("tests/", "runs/")) for name in names)


def test_the_wheel_in_a_fresh_venv_runs_a_shipped_config_by_name(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    # The venv sees this interpreter's packages (numpy, dask, ...) so nothing is downloaded;
    # evo itself comes from the wheel alone.
    _run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=tmp_path)
    python, evo = venv / "bin" / "python", venv / "bin" / "evo"
    _run(
        python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", wheel,
        cwd=tmp_path,
    )  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        python, "-c", "import evo, envs; print(evo.__file__); print(envs.__file__)", cwd=work
    )
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(venv), where.stdout

    assert _run(evo, "--version", cwd=work).stdout.strip() == f"evo {__version__}"
    listing = _run(evo, "configs", cwd=work).stdout
    assert {line.split()[0] for line in listing.splitlines()[1:-1]} == set(shipped_names())
    assert str(venv) in listing.splitlines()[-1]

    done = _run(evo, "run", "cartpole-es", "--set", "generations=3", cwd=work)
    folder = work / done.stdout.strip().splitlines()[-1]
    assert folder.parent == work / "runs" and folder.name.startswith("cartpole-es-")
    assert "embedded LocalCluster" in done.stdout  # the workers imported evo from the venv
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 3
    assert (folder / "summary.json").is_file()
