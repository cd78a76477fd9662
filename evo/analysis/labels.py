"""Legend labels of runs: the config's name, and what sets apart runs of one name (the
varied setting of a sweep, ``sigma=0.05``, then the seed), never a timestamped folder."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

# Keys that say where or how long a run ran, not what it is.
_NOT_A_SETTING = ("backend.", "logging.", "checkpoint.")


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config as dotted keys."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(key: str, keys: Sequence[str]) -> str:
    """The key's last part, unless another varied key ends the same way."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def settings(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per config, the keys whose values differ among configs of the same name (seed
    and where it ran left out), as ``sigma=0.05, population_size=64``; "" when none do."""
    flats = [flat(config) for config in configs]
    out = [""] * len(configs)
    names = [str(config.get("name", "")) for config in configs]
    for name in set(names):
        members = [i for i, n in enumerate(names) if n == name]
        keys = sorted({k for i in members for k in flats[i]})
        varied = [
            key
            for key in keys
            if key != "seed"
            and not key.startswith(_NOT_A_SETTING)
            and len({_value(flats[i].get(key)) for i in members}) > 1
        ]
        for i in members:
            out[i] = ", ".join(f"{_short(k, varied)}={_value(flats[i].get(k))}" for k in varied)
    return out


def run_labels(configs: Sequence[Mapping[str, Any]], folders: Sequence[str]) -> list[str]:
    """A legend label per run: name, varied setting, then the seed when runs of the same
    name and setting differ by it, else the folder name to tell reruns apart."""
    varied = settings(configs)
    bases = [
        " ".join(part for part in (str(c.get("name", f)), v) if part)
        for c, v, f in zip(configs, varied, folders, strict=True)
    ]
    labels = []
    for base, config, folder in zip(bases, configs, folders, strict=True):
        twins = [i for i, other in enumerate(bases) if other == base]
        if len(twins) == 1:
            labels.append(base)
            continue
        seeds = {str(configs[i].get("seed")) for i in twins}
        by_seed = len(seeds) == len(twins)
        labels.append(f"{base}, seed {config.get('seed')}" if by_seed else f"{base} ({folder})")
    return labels
