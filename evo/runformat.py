"""The run folder's layout versions, and reading an older layout as the current one.

Format 3 (this evo's) names each member's noise by an offset into the shared noise
table (lineage column ``noise_offset``, the table's ``[seed, size]`` in ``noise_table``
and in the strategy state of every checkpoint); format 2 named it by the seed of a
generator of its own (``noise_seed``). Its files read as before, but its members cannot
be rebuilt and its runs cannot be resumed: this evo no longer draws that noise.

Format 2 numbers generations from 1 in every file, as format 3 does: ``metrics.jsonl`` line
k has ``"generation": k``, ``lineage/00000K.npz`` is generation K (its ``generation`` and
``parent_generation`` too), and an event's ``generation`` names the generation it
happened in. A checkpoint ``gen-00000K`` holds the state after generation K (0: before the
first), as in every format. Format 1 counted generations from 0 in the metrics, the
lineage and the events other than checkpoints; a folder without a recorded format is
format 1. Its readers (:class:`~evo.runlog.RunFolder`) shift it here, so that everything
above them sees format 2 only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from evo.errors import RunFolderError

# The run folder's layout version, in config.yaml's header and summary.json: what readers
# go by when the layout changes (docs/run-folder.md).
FORMAT = 3
NOISE_TABLE_FORMAT = 3  # the first format whose members index the shared noise table

_HEADER = re.compile(r"#\s*format\s+(\S+)\s*$")
# Events whose "generation" counts the generations done (the same in every format).
_COUNTS_DONE = frozenset({"checkpoint", "resume"})


def read_format(config: Path) -> int:
    """The format ``config`` (a run's config.yaml) records in its header (1: none), or a
    one-line :class:`RunFolderError` for a format newer than this evo reads."""
    try:
        with config.open(encoding="utf-8", errors="replace") as lines:
            header = []
            for line in lines:
                if not line.startswith("#"):
                    break
                header.append(line)
    except OSError as exc:
        raise RunFolderError(f"{config}: cannot read it: {exc}") from None
    found = [m.group(1) for m in map(_HEADER.match, header) if m]
    if not found:
        return 1
    if not found[-1].isdigit() or len(found[-1]) > 9 or int(found[-1]) < 1:
        raise RunFolderError(
            f"{config}: expected '# format N' in its header, found {found[-1][:20]!r}"
        )
    number = int(found[-1])
    if number > FORMAT:
        raise RunFolderError(
            f"{config.parent}: a run folder of format {number}, newer than this evo reads "
            f"(format {FORMAT} and older): upgrade evo to read it"
        )
    return number


def older_format(format: int) -> str:
    """What sets a folder of an older ``format`` apart, in words."""
    if format < 2:
        return "generations counted from 0"
    return "members' noise drawn by a generator seeded per member, not the noise table"


def lineage_file(generation: int, format: int) -> str:
    """The name of generation ``generation``'s (from 1) lineage file in a folder of ``format``."""
    return f"{generation - (format < 2):06d}.npz"


def lineage_number(stem: str, format: int) -> int:
    """The generation (from 1) that the lineage file named ``stem`` holds."""
    return int(stem) + (format < 2)


def upgrade_metrics(lines: list[dict[str, Any]], format: int) -> list[dict[str, Any]]:
    """``metrics.jsonl``'s lines as formats 2 and 3 write them."""
    if format >= 2:
        return lines
    return [_shifted(line) if isinstance(line, dict) else line for line in lines]


def upgrade_events(events: list[dict[str, Any]], format: int) -> list[dict[str, Any]]:
    """``events.jsonl``'s events as format 2 writes them (a checkpoint's or a resume's
    ``generation`` counts generations done: it is the same in both)."""
    if format >= 2:
        return events
    return [
        _shifted(event)
        if isinstance(event, dict) and event.get("event") not in _COUNTS_DONE
        else event
        for event in events
    ]


def upgrade_lineage(arrays: dict[str, np.ndarray], format: int) -> dict[str, np.ndarray]:
    """One generation's lineage arrays as format 2 writes them (``parent_generation`` -1:
    no recorded parent, in both)."""
    if format >= 2:
        return arrays
    arrays = dict(arrays)
    if "generation" in arrays:
        arrays["generation"] = np.asarray(arrays["generation"]) + 1
    if "parent_generation" in arrays:
        parents = np.asarray(arrays["parent_generation"])
        arrays["parent_generation"] = np.where(parents >= 0, parents + 1, parents).astype(
            parents.dtype
        )
    return arrays


def _shifted(record: dict[str, Any]) -> dict[str, Any]:
    generation = record.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool):
        return {**record, "generation": generation + 1}
    return record
