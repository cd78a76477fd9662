"""What may change when a run is resumed: keys that decide when and where the run goes
on, never what it computes."""

from __future__ import annotations

import json
from typing import Any

from evo.config.options import to_dict
from evo.errors import ConfigError

# A resumed run's numbers are the uninterrupted run's whatever these say: how long it
# runs and when it stops, where it runs, how often it saves, how it is scored at the
# end and what it logs.
SAFE_ON_RESUME = ("generations", "stop", "backend", "checkpoint", "final_eval", "logging")


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def computing_keys(config: Any) -> dict[str, Any]:
    """The config's dotted keys that decide what the run computes (all but the safe ones),
    as JSON would give them back: what a checkpoint records to notice an edited config."""
    flat = _flat(json.loads(json.dumps(to_dict(config))))
    return {key: value for key, value in flat.items() if key.split(".")[0] not in SAFE_ON_RESUME}


def edits(recorded: dict[str, Any], config: Any) -> list[str]:
    """``KEY: OLD -> NEW`` for each computing key of ``config`` that differs from the
    recorded ones."""
    now = computing_keys(config)
    return [
        f"{key}: {recorded.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(recorded.keys() | now.keys())
        if recorded.get(key) != now.get(key)
    ]


def changed_keys(before: Any, after: Any) -> list[str]:
    """Dotted keys whose value differs between two configs, sorted."""
    old, new = _flat(to_dict(before)), _flat(to_dict(after))
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def check_resume_changes(before: Any, after: Any) -> list[str]:
    """The changed keys, if every one is safe to change on resume; else a ConfigError
    naming the first that is not."""
    changed = changed_keys(before, after)
    for key in changed:
        if key.split(".")[0] not in SAFE_ON_RESUME:
            allowed = ", ".join(
                f"{name}.*" if name != "generations" else name for name in SAFE_ON_RESUME
            )
            raise ConfigError(
                f"--set {key}: cannot change on resume (it changes what the run computes); "
                f"resume can change {allowed}"
            )
    return changed
