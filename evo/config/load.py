"""Reading a config: a YAML file (``safe_load``) or a mapping, with ``KEY=VALUE`` overrides."""

from __future__ import annotations

import copy
import os
import re
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from evo.config.options import build, set_key, to_dict
from evo.config.schema import ExperimentConfig
from evo.config.shipped import resolve_config
from evo.errors import ConfigError
from evo.messages import describe

MAX_BYTES = 1 << 20  # a config is a few hundred bytes; a megabyte is not a config
MAX_DEPTH = 32  # sections nest three deep; thousands of levels only make a traceback


class _StrictLoader(yaml.SafeLoader):
    """``safe_load`` without its silent surprises: the last of two equal keys winning,
    and recursion as deep as the document asks."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(
                    f"nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}"
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any], overrides: typing.Sequence[str] = ()
) -> ExperimentConfig:
    """Read a YAML experiment file or a shipped config by name (``cartpole-es``), or take
    a mapping as YAML would give it; apply ``KEY=VALUE`` overrides, check every key, type
    and bound."""
    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        raw = read_yaml_mapping(source)
    apply_overrides(raw, overrides)
    return from_dict(raw)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; errors name the file and line. A path
    that does not exist may be the bare name of a shipped config (``cartpole-es``)."""
    path = resolve_config(path)
    if path.is_dir():
        raise ConfigError(f"{path}: expected a YAML file, found a directory")
    if not path.is_file():  # a FIFO would hang the read, /dev/zero fill the memory
        raise ConfigError(f"{path}: expected a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"{path}: expected a config of at most {MAX_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    data = parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of config keys at the top level, found {describe(data)}"
        )
    return data


def parse_yaml(text: str, where: str) -> Any:
    """YAML as ``safe_load`` reads it, but a duplicate key, nesting over ``MAX_DEPTH`` or an
    integer too long to read is a one-line :class:`ConfigError` naming ``where``."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: malformed YAML{at}: {problem}") from None
    except ValueError as exc:  # int("9" * 5000): Python refuses to read it
        raise ConfigError(f"{where}: malformed YAML: {str(exc).splitlines()[0]}") from None
    return data


def apply_overrides(raw: dict[str, Any], overrides: typing.Sequence[str]) -> None:
    """Apply ``--set a.b.c=VALUE`` overrides in place; the value is parsed as YAML."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE with a dotted KEY like algorithm.sigma=0.05"
            )
        try:
            value = parse_yaml(text, "") if text.strip() else None
        except ConfigError as exc:
            shown = repr(text) if len(text) <= 40 else f"{text[:30]!r}... ({len(text)} characters)"
            detail = str(exc).removeprefix(": malformed YAML").lstrip(": ")
            raise ConfigError(
                f"--set {key}: the value {shown} is not valid YAML ({detail})"
            ) from None
        try:
            set_key(raw, key, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {exc}") from None


def from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Validate a plain mapping (as YAML gives it) into an :class:`ExperimentConfig`."""
    return build(ExperimentConfig, raw, "")


def dump_yaml(config: ExperimentConfig) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=False)
