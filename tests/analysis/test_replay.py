"""`evo replay` writes a real animation of the best policy, or a still."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def race_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("race")
    config = tiny_config(
        env={"id": "envs/RaceTrack-v0", "episodes": 2, "common_seeds": True, "max_steps": 150},
        generations=2,
    )
    result = run_cli("run", str(write_config(tmp / "race.yaml", config)), "--runs-dir", str(tmp))
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.splitlines()[-1])


def test_replay_writes_an_animated_gif(race_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "best.gif"
    result = run_cli("replay", str(race_run), "--out", str(out), "--track", "5", "--every", "1")
    assert result.returncode == 0, result.stderr
    steps = int(result.stdout.split(" steps")[0].split()[-1])
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.size == (480, 480) and gif.n_frames > 10
        # The start and every step, 100 ms each (identical frames are merged, durations summed).
        total = 0
        for frame in range(gif.n_frames):
            gif.seek(frame)
            total += gif.info["duration"]
        assert total == 100 * (steps + 1)


def test_replay_still(race_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "still.png"
    result = run_cli("replay", str(race_run), "--out", str(out), "--png")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (480, 480)


def test_replay_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    result = run_cli("replay", str(tmp_path / "nope"), "--out", str(tmp_path / "x.gif"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-steps", "0"], "--max-steps"),
        (["--track", "-1"], "--track"),
        (["--every", "0"], "--every"),
    ],
)
def test_bad_replay_arguments_are_one_line(race_run: Path, tmp_path: Path, args, fragment) -> None:
    result = run_cli("replay", str(race_run), "--out", str(tmp_path / "x.gif"), *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and fragment in result.stderr
    assert not (tmp_path / "x.gif").exists()
