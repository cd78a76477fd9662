"""Hypothesis strategies for evo's inputs: config documents shaped by the schema (its
sections and keys, each with a value of its own type or of any other, bounds and all),
``--set KEY=VALUE`` pairs, and the bytes of a run folder's files, mutated."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import yaml
from hypothesis import strategies as st

import evo  # noqa: F401  (imports the strategies, which register their sections)
from evo.config.options import Section
from evo.config.schema import ALGORITHMS, ExperimentConfig

# Ids and names that exist, so that many documents get past the first key; "module:Name"
# ids are left out on purpose: they import a module, and arbitrary ones are not for a test.
ENV_IDS = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "RaceTrack-v0", "NoSuchEnv-v0", ""]
WORDS = ["sphere", "rastrigin", "digits", "spiral", "serial", "dask", "tanh", "relu", "adam"]

SPECIAL_FLOATS = [math.inf, -math.inf, math.nan, 1e309, -0.0, 5e-324, 1.7976931348623157e308]
YAML_NUMBERS = [".inf", "-.inf", ".nan", "1e309", "9" * 400, "0x7f", "1_000", "0o17", "1e-400"]
HUGE_INTS = [2**63, -(2**63) - 1, 10**400, 2**64 + 1]


def _sections(cls: type) -> dict[str, Any]:
    """``cls``'s keys and their types."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.metadata) for f in dataclasses.fields(cls)}


def _section_type(tp: Any) -> type | None:
    """The section a key holds (``X | None`` too), else None."""
    for arm in (tp, *typing.get_args(tp)):
        if isinstance(arm, type) and issubclass(arm, Section):
            return arm
    return None


unicode_text = st.text(max_size=12) | st.sampled_from(["é", "名前", "\u202e", "\x00", "a\nb", "~"])
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.sampled_from(HUGE_INTS)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(SPECIAL_FLOATS)
    | unicode_text
    | st.sampled_from(WORDS + ENV_IDS),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def value_of(tp: Any, meta: typing.Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A value of type ``tp`` near its bounds mostly, or anything at all sometimes."""
    low, high = meta.get("ge", meta.get("gt")), meta.get("le", meta.get("lt"))
    arms: list[st.SearchStrategy[Any]] = []
    for arm in typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,):
        if arm is bool:
            arms.append(st.booleans())
        elif arm is int:
            lo = 0 if low is None else int(low) - 1
            arms.append(st.integers(lo, lo + 40 if high is None else int(high) + 1))
        elif arm is float:
            lo, hi = (-2.0 if low is None else low - 1), (2.0 if high is None else high + 1)
            arms.append(st.floats(lo, hi, allow_nan=False))
        elif arm is str:
            arms.append(st.sampled_from(WORDS + ENV_IDS) | unicode_text)
        elif arm is type(None):
            arms.append(st.none())
        elif typing.get_origin(arm) is typing.Literal:
            arms.append(st.sampled_from(typing.get_args(arm)))
        elif typing.get_origin(arm) in (tuple, list):
            (inner, *_) = typing.get_args(arm) or (int,)
            arms.append(st.lists(value_of(inner, meta), max_size=3))
    return st.one_of(*arms, anything) if arms else anything


@st.composite
def section(draw: st.DrawFn, cls: type, depth: int = 0) -> dict[str, Any]:
    """Some of ``cls``'s keys with values, now and then a key it does not have."""
    keys = _sections(cls)
    if cls.__name__ == "AlgorithmConfig" or cls in ALGORITHMS.values():
        name = draw(st.sampled_from([*ALGORITHMS, "no_such_es"]))
        keys = {**_sections(ALGORITHMS.get(name, ALGORITHMS["openai_es"])), "name": None}
        chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True, max_size=5))
        out: dict[str, Any] = {"name": name}
    else:
        chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True, max_size=6))
        out = {}
    for key in chosen:
        if key == "name" and "name" in out:
            continue
        tp, meta = keys[key]
        inner = _section_type(tp)
        if key == "id":
            out[key] = draw(st.sampled_from(ENV_IDS) | unicode_text)
        elif inner is not None and depth < 2 and draw(st.booleans() | st.just(True)):
            out[key] = draw(section(inner, depth + 1))
        else:
            out[key] = draw(value_of(tp, meta))
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.text(min_size=1, max_size=8))] = draw(anything)
    return out


@st.composite
def config_document(draw: st.DrawFn) -> str:
    """A YAML document: a config of the schema's shape, or one of its textual oddities
    (duplicate keys, deep nesting, numbers YAML reads as huge or infinite, tags, bytes)."""
    config = draw(section(ExperimentConfig))
    config.setdefault("generations", 1)
    config.setdefault("backend", {"kind": "serial"})
    try:
        text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):
        text = "name: x\n"
    oddity = draw(st.integers(0, 9))
    if oddity == 1:  # a key twice
        text += text.splitlines()[0] + "\n" if text.strip() else "seed: 1\nseed: 2\n"
    elif oddity == 2:  # deep nesting
        depth = draw(st.integers(10, 200))
        text += "policy: " + "[" * depth + "]" * depth + "\n"
    elif oddity == 3:  # numbers as YAML spells them
        number = draw(
            st.sampled_from([".inf", "-.inf", ".nan", "1e309", "9" * 400, "0x7f", "1_000"])
        )
        key = draw(
            st.sampled_from(["seed", "generations", "algorithm:\n  sigma", "stop:\n  max_time_s"])
        )
        text += f"{key}: {number}\n"
    elif oddity == 4:  # a tag safe_load refuses
        text += "seed: !!python/object/apply:os.getpid []\n"
    elif oddity == 5:  # an alias bomb, small
        text = "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n" + text
    elif oddity == 6:  # a splice of random text
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=20)) + text[cut:]
    return text


def dotted_keys() -> list[str]:
    """Every dotted key of the schema (the default algorithm's and every strategy's)."""
    found: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        for key, (tp, _) in _sections(cls).items():
            inner = _section_type(tp)
            if inner is None:
                found.append(prefix + key)
            else:
                walk(inner, f"{prefix}{key}.")

    walk(ExperimentConfig, "")
    for cls in ALGORITHMS.values():
        found.extend(f"algorithm.{key}" for key in _sections(cls))
    return sorted(set(found))


override_value = st.one_of(
    st.sampled_from(["1", "0", "-1", "null", "true", "[8, 8]", "{}", "[]", ".inf", ".nan"]),
    st.sampled_from(["1e309", "9" * 400, "'x'", "serial", "dask", "CartPole-v1", "[[[]]]"]),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True).map(repr),
    st.text(max_size=16),
)
override = st.tuples(
    st.sampled_from(dotted_keys()) | st.text(max_size=12) | st.sampled_from(["", ".", "a..b"]),
    override_value,
).map(lambda pair: f"{pair[0]}={pair[1]}") | st.text(max_size=12)


@st.composite
def mutated(draw: st.DrawFn, data: bytes, other: bytes) -> bytes:
    """``data`` with bit flips, a truncation, a splice of ``other`` or random bytes."""
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "repeat"]))
    data = bytearray(data)
    if kind == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif kind == "splice":
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, len(data)))
        piece_start = draw(st.integers(0, len(other)))
        piece = other[piece_start : piece_start + draw(st.integers(0, 200))]
        data[start:end] = piece
    elif kind == "insert":
        where = draw(st.integers(0, len(data)))
        data[where:where] = draw(st.binary(min_size=1, max_size=40))
    elif kind == "repeat" and data:
        start = draw(st.integers(0, len(data) - 1))
        data[start:start] = data[start : start + draw(st.integers(1, 64))] * draw(
            st.integers(2, 50)
        )
    return bytes(data)
