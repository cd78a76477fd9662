"""The MuJoCo throughput bench: three ways, interleaved, on the same trajectories."""

from __future__ import annotations

import pytest

from evo.bench.locomotion import WAYS, bench_locomotion, main


def test_each_way_is_measured_every_repeat_and_reported() -> None:
    lines: list[str] = []
    results = bench_locomotion(["Hopper-v5"], lanes=3, steps=10, repeats=2, report=lines.append)
    (result,) = results
    assert (result.env_id, result.lanes) == ("Hopper-v5", 3)
    assert all(len(result.rates[way]) == 2 for way in WAYS)
    assert all(rate > 0 for way in WAYS for rate in result.rates[way])
    assert result.ratio("raw") == 1.0
    assert len(lines) == 2 and "Hopper-v5" in lines[1] and "x raw" in lines[1]


def test_an_env_it_does_not_know_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["Humanoid-v5"])
    assert stopped.value.code == 2
    assert "unknown env id 'Humanoid-v5'" in capsys.readouterr().err
