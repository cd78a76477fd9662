"""The typed machinery of config sections: documented options, building from plain data
with one-line errors, and the way back to plain data."""

from __future__ import annotations

import dataclasses
import math
import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from evo.errors import ConfigError
from evo.messages import describe, expected, join, suggest

_MISSING = object()
S = TypeVar("S", bound="Section")


def option(default: Any, doc: str, **bounds: float) -> Any:
    """A config field with its documentation and numeric bounds (``gt``, ``ge``, ``le``, ``lt``)."""
    if isinstance(default, (list, dict)):
        frozen = tuple(default) if isinstance(default, list) else default
        return field(
            default_factory=lambda: frozen if isinstance(frozen, tuple) else dict(frozen),
            metadata={"doc": doc, **bounds},
        )
    return field(default=default, metadata={"doc": doc, **bounds})


@dataclass(frozen=True)
class Section:
    """Base of every config section: cross-field checks go in :meth:`check`."""

    @classmethod
    def variant(cls, data: Any, path: str) -> type[Section]:
        """The class that reads ``data``: this one, or (a tagged section) the one its tag names."""
        return cls

    def check(self, path: str) -> None:
        """Raise :class:`ConfigError` when fields contradict each other."""

    def replace(self: S, changes: str | Mapping[str, Any], value: Any = _MISSING) -> S:
        """A copy with dotted keys changed and everything checked again:
        ``config.replace("algorithm.sigma", 0.05)`` or ``config.replace({"seed": 1, ...})``."""
        if isinstance(changes, str):
            if value is _MISSING:
                raise TypeError("replace(key, value): the value is missing")
            changes = {changes: value}
        raw = to_dict(self)
        for key, new in changes.items():
            set_key(raw, key, new)
        return build(type(self), raw, "")


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain YAML-able data: ``from_dict(to_dict(c)) == c``."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            # A field the constructor does not take is derived from the others: not a key.
            fields = [f for f in dataclasses.fields(value) if f.init]
            return {f.name: plain(getattr(value, f.name)) for f in fields}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = plain(config)
    # The tag first, then the strategy's own keys, reads best in a saved file.
    algorithm = data.get("algorithm")
    if isinstance(algorithm, dict):
        data["algorithm"] = {"name": algorithm.pop("name"), **algorithm}
    return data


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` of plain config data in place, making sections on the way."""
    node = raw
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(f"{key}: {prefix} is {describe(child)}, not a section with keys")
        node = child
    node[parts[-1]] = value


def build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from ``data``, checking keys, types and bounds."""
    cls = cls.variant(data, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, found {describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            hint = suggest(str(key), list(fields), listing=True)
            raise ConfigError(f"{join(path, str(key))}: unknown key{hint}")
    hints = typing.get_type_hints(cls)
    values = {
        name: convert(hints[name], data[name], join(path, name), fields[name].metadata)
        for name in fields
        if name in data
    }
    instance = cls(**values)
    instance.check(path)
    return instance


def convert(tp: Any, value: Any, path: str, meta: typing.Mapping[str, Any]) -> Any:
    """Check ``value`` against type ``tp`` (and bounds in ``meta``); return it converted."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None and type(None) in arms:
            return None
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return convert(arm, value, path, meta)
            except ConfigError:
                if typing.get_origin(arm) is not Literal and _same_kind(arm, value):
                    raise  # the right type, a wrong value: that arm's message is the precise one
        choices = [c for a in arms if typing.get_origin(a) is Literal for c in typing.get_args(a)]
        hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
        raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}{hint}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool):
            hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}{hint}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if origin is tuple:
        (item_type, _) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}")
        return tuple(convert(item_type, v, f"{path}[{i}]", meta) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, found {describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, found {describe(value)}")
        if not -INT_LIMIT <= value <= INT_LIMIT:  # 5,000 digits of seed, population 1e100
            raise ConfigError(
                f"{path}: expected an integer within +-{INT_LIMIT}, found {_short(value)}"
            )
        return _bounded(value, path, meta, "an integer")
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string: accept what Python reads as a number.
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{path}: expected a number, found {describe(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, found {describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):  # inf, 1e309, NaN: a run would "finish" with NaN
            found = "NaN" if number != number else _short(value)
            raise ConfigError(f"{path}: expected a finite number, found {found}")
        return _bounded(number, path, meta, "a number")
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, found {describe(value)}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a bug in a Section


def _same_kind(tp: Any, value: Any) -> bool:
    """Whether ``value`` has the Python type that config type ``tp`` asks for."""
    if typing.get_origin(tp) is Literal:
        return any(type(c) is type(value) for c in typing.get_args(tp))
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if not isinstance(tp, type):
        return False
    return isinstance(value, tp) and not (tp is int and isinstance(value, bool))


_BOUNDS = (
    ("gt", ">", operator.gt),
    ("ge", ">=", operator.ge),
    ("lt", "<", operator.lt),
    ("le", "<=", operator.le),
)


INT_LIMIT = 2**63 - 1  # any integer option: what an int64 holds


def _short(value: Any) -> str:
    """A number as a message shows it: a huge one by its size, not its thousand digits."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


def _bounded(value: float, path: str, meta: typing.Mapping[str, Any], what: str) -> Any:
    for key, symbol, holds in _BOUNDS:
        if key in meta and not holds(value, meta[key]):
            raise ConfigError(f"{path}: expected {what} {symbol} {meta[key]}, found {value!r}")
    return value
