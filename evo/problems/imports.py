"""Objects named ``package.module:attribute`` in a config: a user's env class or function."""

from __future__ import annotations

import importlib
import re
from typing import Any

from evo.errors import ConfigError

ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def load_entry_point(text: str, key: str) -> Any:
    """The object ``text`` names; a one-line :class:`ConfigError` on ``key`` if there is none."""
    if not ENTRY_POINT.match(text):
        raise ConfigError(f"{key}: expected 'package.module:name', found {text!r}")
    module_name, _, attribute = text.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{key}: cannot import module {module_name!r} ({exc}); it must be importable "
            "here and on every Dask worker (installed, or on PYTHONPATH)"
        ) from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ConfigError(f"{key}: module {module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    return found


def entry_point_of(value: Any) -> str:
    """The ``module:qualname`` that names an importable object, as a config records it."""
    return f"{value.__module__}:{value.__qualname__}"


def named_modules(config: Any) -> list[tuple[str, str]]:
    """``(key, top-level module)`` for each module a config names (``env.id`` as
    ``module:EnvId``, ``env.entry_point``, ``function.entry_point``): what building its
    problem imports beyond gymnasium's registry."""
    named = []
    env = getattr(config, "env", None)
    if env is not None and ":" in env.id:
        named.append(("env.id", env.id.partition(":")[0]))
    if env is not None and env.entry_point:
        named.append(("env.entry_point", env.entry_point.partition(":")[0]))
    function = getattr(config, "function", None)
    if function is not None and function.entry_point:
        named.append(("function.entry_point", function.entry_point.partition(":")[0]))
    return [(key, module.split(".")[0]) for key, module in named if module]


def installed_only(config: Any, paths: list[str], report: Any) -> None:
    """Make imports of a run folder's config come from installed packages only.

    The working directory leaves ``sys.path`` (``python -m`` and the console script put
    it first) unless ``PYTHONPATH`` names it (then the user asked for it), ``paths``
    (``--import-path``) join it, and each module the config names is looked up without
    being run: ``report`` says where it will be imported from, and one not found is a
    :class:`ConfigError` before anything is imported."""
    import importlib.util
    import os
    import sys

    here = os.path.abspath(os.curdir)
    named = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if here not in {os.path.abspath(p) for p in named if p}:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    for path in reversed(paths):
        sys.path.insert(0, os.path.abspath(path))
    for key, module in named_modules(config):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise ConfigError(
                f"{key}: module {module!r} is not an installed package; a run folder's "
                "config imports from the working directory or a path only with "
                "--import-path DIR"
            )
        report(f"{key}: imports {module} from {spec.origin or spec.submodule_search_locations}")
