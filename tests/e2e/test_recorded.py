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


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_gives_recorded_numbers(config: Path, tmp_path: Path) -> None:
    recorded = json.loads((RECORDED / f"{config.stem}.json").read_text())
    seen = json.loads(json.dumps(observe(config, tmp_path)))
    for part in ("metrics", "summary"):
        assert same(seen[part], recorded[part]), f"{config.name}: {part} differ"
    assert seen["inspect"] == recorded["inspect"]
