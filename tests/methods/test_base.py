"""The stopwatch of a step: named laps that add up to the time between marks."""

from __future__ import annotations

import time

from evo.methods import Stopwatch


def test_laps_partition_the_time_and_splits_move_the_mark() -> None:
    watch = Stopwatch()
    start = watch.mark
    time.sleep(0.01)
    watch.lap("write")
    watch.split("ask", 0.002)  # timed inside a call
    watch.lap("tell")
    assert list(watch.laps) == ["write", "ask", "tell"]
    assert watch.laps["write"] >= 0.01 and watch.laps["ask"] == 0.002
    assert abs(sum(watch.laps.values()) - (watch.mark - start)) < 1e-9
