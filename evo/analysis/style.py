"""The look of `evo plot` and `evo compare` figures: fit for a paper, legible in greyscale.

One colour per run from the Okabe-Ito palette (told apart by colour-blind readers, its
order alternating dark and light so that neighbours differ in grey too), with a marker
and a line style of its own; the output format from the file's suffix (PNG, PDF, SVG),
written atomically without a timestamp, so the same runs give the same bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evo.errors import ConfigError, RunFolderError
from evo.runlog import atomic_write_bytes

FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
DPI = 150  # PNG pixels per inch (PDF and SVG are vector)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
BAND_ALPHA = 0.14
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}
RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "svg.fonttype": "none",  # text stays text in an SVG
    "svg.hashsalt": "evo",  # the same ids in every SVG of the same runs
    "pdf.fonttype": 42,  # TrueType in a PDF (editable, accepted by publishers)
}


def check_output(out: str | os.PathLike[str], dpi: int = DPI) -> str:
    """The format of ``out`` from its suffix; a one-line error for any other suffix, a
    missing folder or a DPI out of range (before anything is read or written)."""
    path = Path(out)
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        raise ConfigError(f"-o: expected a file ending in .png, .pdf or .svg, found {str(out)!r}")
    if not 10 <= dpi <= 2400:
        raise ConfigError(f"--dpi: expected 10 to 2400 dots per inch, found {dpi}")
    if not path.parent.is_dir():
        raise RunFolderError(f"{out}: the folder {path.parent} does not exist")
    return form


def run_style(index: int) -> dict[str, Any]:
    """The colour, marker and line style of the ``index``-th run or group."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[(index // len(PALETTE)) % len(LINESTYLES)],
    }


@contextmanager
def paper_style() -> Iterator[Any]:
    """matplotlib (headless) with the figure style on; yields ``pyplot``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        yield plt


def save(figure: Any, out: str | os.PathLike[str], dpi: int = DPI) -> Path:
    """Write ``figure`` in the format of ``out``'s suffix, atomically; close it."""
    import matplotlib.pyplot as plt

    form = check_output(out, dpi)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format=form, dpi=dpi, metadata=_METADATA[form])
    finally:
        plt.close(figure)
    atomic_write_bytes(Path(out), buffer.getvalue())
    return Path(out)


def integer_ticks(axis: Any) -> None:
    """Ticks on whole numbers only (generations, evaluations)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
