"""A sweep's plan: ``--seeds`` and ``--grid`` checked, every (setting, seed) a validated config."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from evo.config import ExperimentConfig, apply_overrides, from_dict
from evo.errors import ConfigError

MAX_RUNS = 10_000
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# What the shared cluster is made of: one value for the whole sweep (--set, not --grid).
CLUSTER_KEYS = ("backend.kind", "backend.workers", "backend.scheduler", "backend.security")
CLUSTER_KEYS += ("backend.connect_timeout_s", "backend.closed_cluster")


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``0-4``, ``0,2,7``, ``3``, or a mix (``0-2,9``) -> the seeds in order."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ConfigError(f"--seeds: expected seeds like 0-4, 0,2,7 or 3, found {text!r}")
        low = int(match[1])
        high = low if match[2] is None else int(match[2])
        if high < low:
            raise ConfigError(f"--seeds: the range {part.strip()!r} runs backwards")
        if high - low >= MAX_RUNS:
            raise ConfigError(f"--seeds: at most {MAX_RUNS} runs in a sweep, found {part!r}")
        seeds.extend(range(low, high + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds: seed {repeated[0]} is given twice in {text!r}")
    return seeds


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid KEY=V1,V2,...`` (repeatable) -> ``{key: values}``; each value is YAML, so
    ``policy.hidden_sizes=[8],[16,16]`` gives two lists."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not KEY.fullmatch(key) or not text.strip():
            raise ConfigError(
                f"--grid {item!r}: expected KEY=VALUE,VALUE,... with a dotted KEY, "
                "like algorithm.sigma=0.02,0.05"
            )
        try:
            values = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError:
            raise ConfigError(
                f"--grid {key}: expected comma-separated YAML values, found {text!r}"
            ) from None
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice (list all its values in one --grid)")
        grid[key] = values
    check_grid(grid)
    return grid


def check_grid(grid: Mapping[str, Sequence[Any]]) -> None:
    """Raise :class:`ConfigError` for a grid a sweep cannot run (before any config is read)."""
    keys = list(grid)
    for key, values in grid.items():
        if key == "seed":
            raise ConfigError("--grid seed: the seeds of a sweep are given with --seeds")
        if any(key == k or key.startswith(k + ".") for k in CLUSTER_KEYS) or key == "backend":
            raise ConfigError(
                f"--grid {key}: the runs of a sweep share one cluster; set it with --set"
            )
        if not values:
            raise ConfigError(f"--grid {key}: expected at least one value")
        texts = []
        for value in values:
            try:
                texts.append(json.dumps(value, sort_keys=True, allow_nan=False))
            except (TypeError, ValueError):
                raise ConfigError(
                    f"--grid {key}: expected numbers, strings, true/false, null, lists or "
                    f"mappings, found {value!r}"
                ) from None
        repeated = [t for t in texts if texts.count(t) > 1]
        if repeated:
            raise ConfigError(f"--grid {key}: the value {repeated[0]} is given twice")
        inner = [k for k in keys if k.startswith(key + ".")]
        if inner:
            raise ConfigError(f"--grid {key} and --grid {inner[0]}: one is inside the other")


@dataclass(frozen=True)
class Member:
    """One run of a sweep."""

    folder: str  # its run folder's name in the sweep folder, e.g. "sigma=0.02-seed=3"
    setting: str  # its grid setting, e.g. "sigma=0.02" ("" without a grid)
    values: dict[str, Any]  # grid key -> value
    seed: int
    config: ExperimentConfig


def plan(
    base: dict[str, Any], grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]
) -> list[Member]:
    """Every (setting, seed) of a sweep, setting by setting, each config validated."""
    check_grid(grid)
    keys = list(grid)
    settings = list(itertools.product(*grid.values()))  # [()] without a grid
    if len(settings) * len(seeds) > MAX_RUNS:
        raise ConfigError(
            f"--grid, --seeds: {len(settings) * len(seeds)} runs; a sweep holds at most {MAX_RUNS}"
        )
    members = []
    for label, values in zip(_labels(keys, settings), settings, strict=True):
        for seed in seeds:
            raw = copy.deepcopy(base)
            sets = [f"{key}={_as_yaml(value)}" for key, value in zip(keys, values, strict=True)]
            apply_overrides(raw, [*sets, f"seed={seed}"])
            folder = f"{label}-seed={seed}" if label else f"seed={seed}"
            config = from_dict(raw)
            members.append(
                Member(folder, label, dict(zip(keys, values, strict=True)), seed, config)
            )
    return members


def _as_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 30)


def _labels(keys: list[str], settings: list[tuple[Any, ...]]) -> list[str]:
    """Readable, folder-safe names of the settings (``sigma=0.02-population_size=64``):
    a key by its last part unless two keys share it; names made unique."""
    lasts = [key.rsplit(".", 1)[-1] for key in keys]
    names = [last if lasts.count(last) == 1 else key for key, last in zip(keys, lasts, strict=True)]
    labels: list[str] = []
    for values in settings:
        label = "-".join(f"{n}={_word(v)}" for n, v in zip(names, values, strict=True))
        if len(label) > 120:
            label = f"setting{len(labels) + 1}"
        while label in labels:
            label += "_"
        labels.append(label)
    return labels


def _word(value: Any) -> str:
    """A value as a word for a folder name: ``[16, 16]`` -> ``16x16``."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, (list, tuple)):
        text = "x".join(_word(v) for v in value) or "none"
    elif isinstance(value, dict):
        text = "+".join(f"{k}={_word(v)}" for k, v in value.items()) or "none"
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9_.+=-]", "_", text)


def default_seeds(base: Mapping[str, Any]) -> list[int]:
    """Without ``--seeds``: the config's own seed."""
    seed = base.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"--seeds: the config's seed is {seed!r}; give seeds, e.g. --seeds 0-4")
    return [seed]
