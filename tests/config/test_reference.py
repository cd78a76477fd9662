"""docs/configuration.md is what the schema says: regenerate it when a key changes."""

from __future__ import annotations

import dataclasses

from evo.config import ALGORITHMS, ExperimentConfig
from evo.config.reference import reference
from tests.conftest import REPO


def test_the_committed_reference_is_generated_from_the_code() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == reference(), (
        "docs/configuration.md is stale: python -m evo.config.reference > docs/configuration.md"
    )


def test_every_documented_key_has_a_row() -> None:
    text = reference()
    for section in [ExperimentConfig, *ALGORITHMS.values()]:
        for field in dataclasses.fields(section):
            if "doc" in field.metadata:
                assert f"| `{field.name}` |" in text, field.name
    for name in ALGORITHMS:
        assert f"## `algorithm (name: {name})`" in text
