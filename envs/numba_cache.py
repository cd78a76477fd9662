"""numba's cache of the project's compiled code, fresh whenever any of that code changes.

numba keys a cached function by the source file that defines it, and nothing else. A
compiled function that calls or inlines functions of other files (the episode loops of
:mod:`evo.problems.compiled_loop` with an env's step kernel and the forward pass of
:mod:`evo.forward`) keeps the machine code of those callees too, so after an edit of a
callee's file a process would load the old code from the cache and compute other bits
than the source says. Here, a function defined under ``evo/`` or ``envs/`` is cached
with one freshness stamp for all of them: the hash of every source file there that
mentions numba. Changing any of them compiles the project's cached functions afresh
(once); other edits, and other packages' functions, are as numba does them.

The cache's place is numba's choice as before (``NUMBA_CACHE_DIR``, else beside the
source, else the user's cache folder). Uses numba's cache locator classes; with a numba
that lacks them, caching is left as it is.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the folder holding envs/ and evo/
PACKAGES = ("evo", "envs")


def tree_stamp(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> str:
    """The sha256 of every ``.py`` file under ``root/package`` that mentions numba (its
    path and its bytes), in path order."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            content = path.read_bytes()
            if b"numba" in content:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


@functools.cache
def _stamp() -> str:
    return tree_stamp()  # once a process: read when numba first saves or loads a function


def in_tree(py_file: str) -> bool:
    """Whether a function of this source file is the project's own."""
    path = Path(py_file).resolve()
    return any(path.is_relative_to(ROOT / package) for package in PACKAGES)


def _locator(base: type) -> type:
    """``base`` (one of numba's locators), for the project's functions, with the stamp."""

    class ProjectLocator(base):  # type: ignore[misc, valid-type]
        def get_source_stamp(self) -> Any:
            return _stamp()

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not in_tree(py_file):
                return None
            return super().from_function(py_func, py_file)

    ProjectLocator.__name__ = ProjectLocator.__qualname__ = f"Project{base.__name__}"
    return ProjectLocator


def install() -> None:
    """Put the project's locators first in numba's list (once)."""
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, name, None) or getattr(caching, f"_{name}", None) for name in names]
    if impl is None or None in bases:
        return
    classes = impl._locator_classes
    if any(cls.__name__.startswith("Project") for cls in classes):
        return
    classes[:0] = [_locator(base) for base in bases]
