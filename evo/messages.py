"""Pieces of one-line error messages: dotted keys, what was expected and found, "did you mean"."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal


def join(path: str, key: str) -> str:
    """Dotted key of ``key`` inside ``path``."""
    return f"{path}.{key}" if path else key


def expected(tp: Any) -> str:
    """Human description of a config type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(expected(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {expected(typing.get_args(tp)[0])}s".replace("an integers", "integers")
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        type(None): "null",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def describe(value: Any) -> str:
    """Short description of a found value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return repr(value)


def suggest(word: str, options: list[str], listing: bool = False) -> str:
    """A "did you mean" hint (or the list of valid options) for a message."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if listing and options:
        return f" (expected one of: {', '.join(options)})"
    return ""
