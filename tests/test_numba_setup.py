"""Numba in evo: its target loads without ``scipy.linalg`` (numba's BLAS functions still
work), and its cache of the project's compiled code is stale when any of that code changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

AFTER_IMPORT = """
import sys
import numpy as np
import numba
import evo
from evo import numba_setup

@numba.njit(cache=False)
def add(a, b):
    return a + b

add(1, 2)  # the first compile of the process: numba's target loads
print("scipy.linalg" in sys.modules, numba_setup._FINDER in sys.meta_path)

@numba.njit(cache=False)
def blas(a, b):
    return np.dot(a, b), np.cov(a)

a = np.arange(12.0).reshape(3, 4) ** 1.5
b = np.arange(8.0).reshape(4, 2) - 3.0
dot, cov = blas(a, b)
print(np.allclose(dot, a @ b), np.allclose(cov, np.cov(a)), "scipy.linalg" in sys.modules)
"""


def _run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_first_compile_skips_scipy_and_numbas_blas_still_works() -> None:
    assert _run(AFTER_IMPORT) == ["False False", "True True True"]


def test_scipy_imported_first_is_left_alone() -> None:
    code = "import scipy.linalg\n" + AFTER_IMPORT
    assert _run(code) == ["True False", "True True True"]


def test_the_cache_stamp_covers_every_compiled_source_file(tmp_path: Path) -> None:
    """Any change of a file with compiled code (a callee of another file's cached
    function too) makes every cached function of the project stale; others do not."""
    from envs.numba_cache import tree_stamp

    for package in ("evo", "envs"):
        (tmp_path / package / "sub").mkdir(parents=True)
    kernel = tmp_path / "envs" / "sub" / "kernel.py"
    kernel.write_text("import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")
    (tmp_path / "evo" / "loop.py").write_text("from numba import njit\n")
    plain = tmp_path / "evo" / "plain.py"
    plain.write_text("x = 1\n")
    first = tree_stamp(tmp_path)
    plain.write_text("x = 2\n")
    assert tree_stamp(tmp_path) == first  # no compiled code there
    kernel.write_text(kernel.read_text().replace("x + 1", "x + 2"))
    changed = tree_stamp(tmp_path)
    assert changed != first
    (tmp_path / "evo" / "loop.py").rename(tmp_path / "evo" / "loops.py")
    assert tree_stamp(tmp_path) != changed  # a file's path counts too


def test_the_projects_functions_are_cached_with_the_stamp() -> None:
    import numba

    import evo  # noqa: F401  (installs the locators)
    from envs.numba_cache import ROOT, tree_stamp
    from evo import forward

    locator = forward._forward_by_row._cache._impl._locator
    assert type(locator).__name__.startswith("Project")
    assert locator.get_source_stamp() == tree_stamp(ROOT)

    @numba.njit(cache=True)
    def outside(x):  # this test file is not the project's code: numba's own locator
        return x

    assert not type(outside._cache._impl._locator).__name__.startswith("Project")
