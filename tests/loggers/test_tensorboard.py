"""TensorBoard event files, live (`logging.tensorboard: true`) and from `evo export
--tensorboard`, read back with TensorBoard's own reader: every metrics column, every
generation, a fitness histogram each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.loggers.conftest import logged_run, metrics, numeric

pytest.importorskip("tensorboardX", reason="evo[tensorboard] is not installed")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package (its event reader) is not installed",
)


def read_events(logdir: Path) -> object:
    """Everything TensorBoard reads from ``logdir``, nothing sampled away."""
    everything = {"scalars": 0, "histograms": 0, "tensors": 0}
    reader = event_accumulator.EventAccumulator(str(logdir), size_guidance=everything)
    reader.Reload()
    return reader


def scalars_by_column(reader: object) -> dict[str, dict[int, tuple[float, float]]]:
    """column -> step -> (value, wall time), tags' groups taken off."""
    found: dict[str, dict[int, tuple[float, float]]] = {}
    for tag in reader.Tags()["scalars"]:
        column = tag.split("/", 1)[1]
        events = reader.Scalars(tag)
        steps = [event.step for event in events]
        assert len(steps) == len(set(steps)), f"{tag}: a step logged twice: {steps}"
        found[column] = {event.step: (event.value, event.wall_time) for event in events}
    return found


def check_every_column(run: Path, logdir: Path) -> object:
    """Every finite metrics value at its generation (each step once), and a histogram of
    each generation's member fitness equal to the lineage's."""
    reader = read_events(logdir)
    logged = scalars_by_column(reader)
    lines = metrics(run)
    assert len(lines) >= 4
    for record in lines:
        step = record["generation"]
        for column, value in numeric(record).items():
            assert column in logged, f"{column} not in the event files"
            assert logged[column][step][0] == pytest.approx(value, rel=1e-6, abs=1e-6), column
    histograms = reader.Histograms("fitness/members")
    assert [h.step for h in histograms] == [r["generation"] for r in lines]
    for histogram in histograms:
        fitness = np.load(run / "lineage" / f"{histogram.step:06d}.npz")["fitness"]
        fitness = fitness[np.isfinite(fitness)]
        value = histogram.histogram_value
        assert value.num == fitness.size
        assert (value.min, value.max) == pytest.approx((fitness.min(), fitness.max()))
        assert value.sum == pytest.approx(fitness.sum())
    summary = json.loads((run / "summary.json").read_text())
    last = lines[-1]["generation"]
    assert logged["final_eval_mean"][last][0] == pytest.approx(summary["final_eval_mean"])
    assert "config" in "".join(reader.Tags()["tensors"])
    return reader


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that wrote its event files as it went."""
    return logged_run(tmp_path_factory.mktemp("tb"), "--set", "logging.tensorboard=true")


def test_a_live_run_logs_every_column_and_histograms(tensorboard_run: Path) -> None:
    assert list((tensorboard_run / "tensorboard").glob("events.out.tfevents.*"))
    check_every_column(tensorboard_run, tensorboard_run / "tensorboard")
    events = [json.loads(line) for line in (tensorboard_run / "events.jsonl").open()]
    assert any(e["event"] == "tensorboard" for e in events)


def test_export_writes_the_same_events_at_the_run_s_times(
    tensorboard_run: Path, tmp_path: Path
) -> None:
    logdir = tmp_path / "tb"
    result = run_cli("export", str(tensorboard_run), "--tensorboard", str(logdir))
    assert result.returncode == 0, result.stderr
    assert "4 generations (4 fitness histograms)" in result.stdout
    reader = check_every_column(tensorboard_run, logdir / tensorboard_run.name)
    start = next(
        json.loads(line)["time"]
        for line in (tensorboard_run / "events.jsonl").open()
        if '"start"' in line
    )
    times = scalars_by_column(reader)["time_s"]
    for record in metrics(tensorboard_run):
        assert times[record["generation"]][1] == pytest.approx(start + record["time_s"], abs=1e-3)
    before = sorted(p.name for p in (logdir / tensorboard_run.name).iterdir())
    again = run_cli("export", str(tensorboard_run), "--tensorboard", str(logdir))
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already holds TensorBoard events" in again.stderr
    assert sorted(p.name for p in (logdir / tensorboard_run.name).iterdir()) == before


def test_export_bad_destination_is_one_line(tensorboard_run: Path, tmp_path: Path) -> None:
    nowhere = run_cli("export", str(tensorboard_run), "--tensorboard", str(tmp_path / "a" / "b"))
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1
    assert "does not exist" in nowhere.stderr and not (tmp_path / "a").exists()
