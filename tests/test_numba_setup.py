"""Numba's target loads without ``scipy.linalg``, and numba's BLAS functions still work."""

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
