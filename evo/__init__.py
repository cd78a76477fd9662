"""evo: neuroevolution experiments farmed to Dask workers, bit-exact and resumable.

The public API: :func:`run`, :func:`resume`, :func:`load_config`, :class:`Callback`,
:class:`Search` (ask/tell in your own loop), the :class:`Strategy` and
:class:`Problem` protocols, and ``__version__``.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from evo import numba_setup

numba_setup.install()  # before anything compiles: see evo/numba_setup.py

import envs  # noqa: E402, F401  (registers the envs; numba's cache stamp: envs/numba_cache.py)
import evo.loggers  # noqa: E402  (registers the loggers of the config's logging section)
import evo.strategies  # noqa: E402, F401  (registers the strategies' config sections)

try:
    __version__ = importlib.metadata.version("evo")
except importlib.metadata.PackageNotFoundError:  # a checkout on the path, not installed
    __version__ = "unknown"

# Where each public name lives; imported on first use, so that `import evo` stays
# light for Dask workers and the command line.
_PUBLIC = {
    "run": "evo.experiment",
    "resume": "evo.experiment",
    "RunResult": "evo.experiment",
    "load_config": "evo.config",
    "ExperimentConfig": "evo.config",
    "Callback": "evo.callbacks",
    "Search": "evo.search",
    "Strategy": "evo.strategies.base",
    "Problem": "evo.problems.base",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'evo' has no attribute {name!r}")
