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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of config keys at the top level, found {describe(data)}"
        )
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
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: the value {text!r} is not valid YAML") from None
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
