"""The experiments that ship with evo: ``evo/configs/*.yaml``, package data found with
:mod:`importlib.resources`, so that ``evo run cartpole-es`` works wherever evo is installed.

A config names itself by its file name; its description is the first sentence of the
comment at its top.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from evo.errors import ConfigError
from evo.messages import suggest

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ShippedConfig:
    """One shipped experiment: its name, file, one-line description and what it runs."""

    name: str
    path: Path
    description: str
    algorithm: str  # the algorithm, or the gradient trainer
    task: str  # the env id, the data set or the function


def configs_folder() -> Path:
    """Where the shipped configs are (inside the installed package)."""
    return Path(str(importlib.resources.files("evo") / "configs"))


def shipped_names() -> list[str]:
    """Names of the shipped configs, sorted."""
    folder = configs_folder()
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.yaml"))


def shipped_configs() -> list[ShippedConfig]:
    """Every shipped config, by name."""
    return [describe_shipped(configs_folder() / f"{name}.yaml") for name in shipped_names()]


def describe_shipped(path: Path) -> ShippedConfig:
    """Name, description, algorithm and task of a config file (read, never run)."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    algorithm = (data.get("algorithm") or {}).get("name", "openai_es")
    if data.get("mode") == "gradient":
        gradient = data.get("gradient") or {}
        trainer = gradient.get("method", "reinforce") if data.get("env") else "minibatch"
        algorithm = f"{trainer} ({gradient.get('optimizer', 'adam')})"
    if data.get("env"):
        task = data["env"].get("id", "?")
    elif data.get("data"):
        task = f"data: {data['data'].get('name', '?')}"
    else:
        task = "function"
    return ShippedConfig(path.stem, path, first_sentence(text), str(algorithm), str(task))


def first_sentence(text: str) -> str:
    """The first sentence of the comment block at the top of a YAML file ('' if none)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    comment = " ".join(lines)
    match = re.match(r"(.+?\.)(\s|$)", comment)
    return match.group(1) if match else comment


def resolve_config(source: str | os.PathLike[str]) -> Path:
    """The file ``source`` names: the file itself when it exists, else the shipped config
    of that bare name (``racetrack-es`` or ``racetrack-es.yaml``). A missing file is a
    one-line :class:`ConfigError`, with the shipped name it resembles."""
    path = Path(source)
    if path.exists():
        return path
    text = os.fspath(source)
    bare = os.sep not in text and "/" not in text
    name = path.name.removesuffix(".yml").removesuffix(".yaml")
    names = shipped_names()
    if bare and name in names:
        return configs_folder() / f"{name}.yaml"
    if name in names:
        hint = f"; evo ships {name!r}: name it bare (evo run {name})"
    else:
        hint = suggest(name, names) or " (`evo configs` lists the shipped experiments)"
    raise ConfigError(f"{path}: file not found{hint}")
