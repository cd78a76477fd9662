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
