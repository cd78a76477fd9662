"""Every shipped config still gives the numbers recorded for it (see ``recorded.py``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.e2e.recorded import CONFIGS, RECORDED, observe


def same(seen: object, recorded: object) -> bool:
    """Equal, with NaN equal to NaN (a JSON round trip keeps every other float exact)."""
    if isinstance(seen, float) and isinstance(recorded, float):
        return seen == recorded or (math.isnan(seen) and math.isnan(recorded))
    if isinstance(seen, dict) and isinstance(recorded, dict):
        return seen.keys() == recorded.keys() and all(same(seen[k], recorded[k]) for k in seen)
    if isinstance(seen, list) and isinstance(recorded, list):
        return len(seen) == len(recorded) and all(map(same, seen, recorded))
    return seen == recorded


def first_difference(seen: object, recorded: object, where: str = "") -> str:
    """Where two recorded values first differ, and how (for the failure message)."""
    if isinstance(seen, dict) and isinstance(recorded, dict):
        if seen.keys() != recorded.keys():
            return f"{where}: keys {sorted(seen.keys() ^ recorded.keys())} differ"
        for key in seen:
            if not same(seen[key], recorded[key]):
                return first_difference(seen[key], recorded[key], f"{where}.{key}")
    if isinstance(seen, list) and isinstance(recorded, list) and len(seen) == len(recorded):
        for index, (a, b) in enumerate(zip(seen, recorded, strict=True)):
            if not same(a, b):
                return first_difference(a, b, f"{where}[{index}]")
    return f"{where}: {seen!r} != {recorded!r}"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_gives_recorded_numbers(config: Path, tmp_path: Path) -> None:
    recorded = json.loads((RECORDED / f"{config.stem}.json").read_text())
    seen = json.loads(json.dumps(observe(config, tmp_path)))
    for part in ("metrics", "summary"):
        assert same(seen[part], recorded[part]), first_difference(seen[part], recorded[part], part)
    assert seen["inspect"] == recorded["inspect"]
