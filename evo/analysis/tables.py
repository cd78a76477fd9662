"""Text tables: the one formatter behind every table that ``evo inspect`` and ``evo compare``
print (and ``evo sweep`` at its end)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

MISSING = "-"  # what a table or a listing shows where a value is absent or null


@dataclass(frozen=True)
class Column:
    """A column of a text table: its header, the side its cells align to, its width and the
    text before it.

    ``width`` None fits the column to its widest cell or header. A number is a minimum, as in
    a format spec: a longer cell pushes the rest of its own line along instead of widening the
    column on every line (so a per-generation table is the same whatever its values), and 0
    leaves cells as they are (a last column of free text).
    """

    header: str
    align: Literal["<", ">"] = ">"
    width: int | None = None
    gap: str = "  "  # before the column; the first has none


def table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], strip: bool = False
) -> list[str]:
    """The header line, then a line per row of cells; ``strip`` drops trailing spaces."""
    widths = [
        max([len(column.header), *(len(row[index]) for row in rows)])
        if column.width is None
        else column.width
        for index, column in enumerate(columns)
    ]
    lines = []
    for cells in [[column.header for column in columns], *rows]:
        line = "".join(
            (column.gap if index else "")
            + (cell.ljust(width) if column.align == "<" else cell.rjust(width))
            for index, (column, cell, width) in enumerate(zip(columns, cells, widths, strict=True))
        )
        lines.append(line.rstrip() if strip else line)
    return lines


def left_then_right(header: Sequence[str], left: frozenset[int] = frozenset({0})) -> list[Column]:
    """Fitted columns, the ``left`` ones left-aligned and the others right-aligned."""
    return [Column(name, "<" if index in left else ">") for index, name in enumerate(header)]


def plain(value: Any) -> str:
    """A value as text, with ``-`` for None (JSON null), inside lists and mappings too."""
    if isinstance(value, (list, dict)):
        return _literal(value)
    return MISSING if value is None else str(value)


def _literal(value: Any) -> str:
    # What ``str`` of a list or a mapping prints (its items' ``repr``), None aside.
    if isinstance(value, list):
        return "[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return MISSING if value is None else repr(value)
