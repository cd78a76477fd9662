"""`evo plot`: a PNG of several real runs overlaid; bad input is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli


@pytest.mark.parametrize("x", ["generation", "time", "evals"])
def test_plot_writes_a_png_of_several_runs(two_runs: list[Path], tmp_path: Path, x: str) -> None:
    out = tmp_path / f"fig-{x}.png"
    result = run_cli("plot", *map(str, two_runs), "-o", str(out), "--x", x)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width >= 800 and image.height >= 500
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # curves and bands, not a blank page


def test_plot_bad_input_is_one_line(two_runs: list[Path], tmp_path: Path) -> None:
    missing = run_cli("plot", str(tmp_path / "nope"), "-o", str(tmp_path / "f.png"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    nowhere = run_cli("plot", str(two_runs[0]), "-o", str(tmp_path / "no" / "f.png"))
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr
    assert nowhere.stderr.count("\n") == 1
    bad_axis = run_cli("plot", str(two_runs[0]), "-o", str(tmp_path / "f.png"), "--x", "steps")
    assert bad_axis.returncode == 2 and "--x" in bad_axis.stderr


def test_the_suffix_picks_the_format(two_runs: list[Path], tmp_path: Path) -> None:
    """PDF and SVG are what they say; the same runs give the same bytes; --dpi scales a PNG."""
    pdf, svg = tmp_path / "fig.pdf", tmp_path / "fig.svg"
    for out in (pdf, svg):
        result = run_cli("plot", *map(str, two_runs), "-o", str(out))
        assert result.returncode == 0, result.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "tiny, seed 1" in text and "tiny, seed 2" in text  # labels: name and seed
    again = tmp_path / "again.svg"
    assert run_cli("plot", *map(str, two_runs), "-o", str(again)).returncode == 0
    assert again.read_bytes() == svg.read_bytes()
    sizes = []
    for dpi in (100, 200):
        png = tmp_path / f"fig-{dpi}.png"
        result = run_cli("plot", str(two_runs[0]), "-o", str(png), "--dpi", str(dpi))
        assert result.returncode == 0, result.stderr
        with Image.open(png) as image:
            sizes.append(image.size)
    assert sizes[1][0] == 2 * sizes[0][0]


@pytest.mark.parametrize("name", ["fig.jpg", "fig", "fig.PNG.txt"])
def test_another_suffix_is_one_line_and_writes_nothing(
    two_runs: list[Path], tmp_path: Path, name: str
) -> None:
    for command in ("plot", "compare"):
        result = run_cli(command, str(two_runs[0]), "-o", str(tmp_path / name))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "expected a file ending in .png, .pdf or .svg" in result.stderr
        assert list(tmp_path.iterdir()) == []
