"""The one text-table formatter, and how a value is shown in a table or a listing."""

from __future__ import annotations

from evo.analysis.tables import Column, left_then_right, plain, table


def test_fitted_columns_take_the_widest_cell_and_strip_trailing_spaces() -> None:
    rows = [["es openai_es", "3 (7, 3)", "44.75"], ["ga", "1", "38.5"]]
    assert table(left_then_right(["group", "runs", "final"]), rows, strip=True) == [
        "group             runs  final",
        "es openai_es  3 (7, 3)  44.75",
        "ga                   1   38.5",
    ]
    last_left = left_then_right(["setting", "per seed"], frozenset({0, 1}))
    assert table(last_left, [["a", "0:1  1:2"], ["bb", "0:1"]], strip=True) == [
        "setting  per seed",
        "a        0:1  1:2",
        "bb       0:1",
    ]


def test_a_fixed_width_is_a_minimum_and_a_longer_cell_pushes_its_line_only() -> None:
    columns = [Column("gen", width=5), Column("evals", width=8), Column("why", "<", width=0)]
    assert table(columns, [["1", "10", "ok"], ["2", "1000000000", ""]]) == [
        "  gen     evals  why",
        "    1        10  ok",
        "    2  1000000000  ",  # the text column keeps its gap, as the events table always did
    ]


def test_a_gap_joins_columns_that_touch() -> None:
    columns = [Column("event", "<", width=6), Column("gen", width=4, gap="")]
    assert table(columns, [["start", "-"], ["longname", "3"]]) == [
        "event  gen",
        "start    -",
        "longname   3",
    ]


def test_a_table_without_rows_is_its_header() -> None:
    assert table(left_then_right(["a", "bb"]), []) == ["a  bb"]


def test_null_is_shown_as_a_dash_everywhere_else_as_str_shows_it() -> None:
    assert plain(None) == "-"
    for value in ("CartPole-v1", 3, 2.5, True, [1, "w", 0.1, [2]], {"a": 1, "b": ["x"]}):
        assert plain(value) == str(value)
    assert plain([1, None, "w"]) == "[1, -, 'w']"
    assert plain({"k": None, "f": [None, 2.5]}) == "{'k': -, 'f': [-, 2.5]}"
