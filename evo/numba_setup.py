"""Numba's first compile in a process without ``scipy.linalg``'s import.

Numba's CPU target, when it first loads (the first compile or cache load of a
process), imports ``scipy.linalg`` to learn whether a BLAS is at hand: 0.15-0.25 s,
as long as a whole CartPole run's generations. evo's compiled code calls no BLAS
(its sums are in a fixed order, for the bits), so while that module loads, this
finder answers that ``scipy.linalg`` is absent. The one effect is on numba's
``np.correlate``/``np.convolve``, whose inner product becomes a plain loop (numba's
own fallback); numba's ``np.dot`` and ``np.linalg`` import ``scipy.linalg`` themselves
when first compiled, as they would anyway. Once the target has loaded, the finder
removes itself.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

TARGET = "numba.np.arraymath"  # the module whose import asks for a BLAS
BLAS = "scipy.linalg"


class _NoBlasWhileTargetLoads(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        module = sys.modules.get(TARGET)
        if module is not None and hasattr(module, "_HAVE_BLAS"):
            _remove()  # the target has loaded: nothing more to do
            return None
        if name == BLAS and module is not None:
            _remove()
            raise ModuleNotFoundError(f"{BLAS} is not imported while numba's target loads")
        return None


_FINDER = _NoBlasWhileTargetLoads()


def _remove() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install() -> None:
    """Install the finder, unless numba's target or ``scipy.linalg`` is loaded already."""
    if TARGET in sys.modules or BLAS in sys.modules or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)
