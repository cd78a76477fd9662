"""The configuration reference, made from the schema's own declarations.

``python -m evo.config.reference > docs/configuration.md`` writes it; a test fails
when the file and the code drift apart.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from evo.config.schema import ALGORITHMS, AlgorithmConfig, ExperimentConfig, Section
from evo.messages import expected

HEADER = """# Configuration reference

An experiment is a YAML file of the sections below; every key is optional and
takes the default shown. `evo run CONFIG --set KEY=VALUE` overrides a key (the
value is read as YAML), and a run folder's `config.yaml` holds every key as the
run resolved it. A mistake (an unknown key, a wrong type, a value out of range)
stops before anything is written, with one line naming the dotted key.

This page is generated from the code: `python -m evo.config.reference >
docs/configuration.md`.
"""


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _shown(value: Any) -> str:
    """A default as YAML would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{}"
            if not value
            else "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, str):
        return value
    return repr(value)


def _bounds(meta: typing.Mapping[str, Any]) -> str:
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return ", ".join(f"{symbols[key]} {meta[key]}" for key in symbols if key in meta)


def section_table(cls: type[Section], path: str) -> list[str]:
    """The rows of one section; nested sections get tables of their own."""
    hints = typing.get_type_hints(cls)
    doc = (cls.__doc__ or "").strip().splitlines()[0]
    lines = [f"## `{path}`", "", doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    nested = []
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)] or (
            [tp] if dataclasses.is_dataclass(tp) else []
        )
        if inner and inner[0] is not AlgorithmConfig:
            nested.append((inner[0], f"{path}.{field.name}" if path else field.name))
            if field.name not in _SECTIONS_AS_KEYS:
                continue
        meaning = field.metadata.get("doc", "")
        if field.name == "algorithm":
            meaning = "the strategy's section: see the `algorithm` tables below"
        limits = _bounds(field.metadata)
        kind = expected(tp).replace("|", "or") + (f" ({limits})" if limits else "")
        default = "see below" if inner else f"`{_shown(_default(field))}`"
        if not field.init:  # computed from the other keys, not set
            default = "derived"
        lines.append(f"| `{field.name}` | {kind} | {default} | {meaning} |")
    lines.append("")
    for section, where in nested:
        lines += section_table(section, where)
    return lines


# Optional sections: a row in their parent's table says what null means.
_SECTIONS_AS_KEYS = {"function", "data", "security", "algorithm"}


def reference() -> str:
    """The whole reference as Markdown."""
    lines = [HEADER]
    top = section_table(ExperimentConfig, "")
    top[0] = "## Top level"
    lines += top
    for name, section in ALGORITHMS.items():
        lines += section_table(section, f"algorithm (name: {name})")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # importing evo has filled the algorithm sections
    print(reference(), end="")
