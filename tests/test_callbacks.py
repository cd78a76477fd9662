"""Callbacks see a run as it happens: the start, every generation, every checkpoint, the stop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import evo
from evo.config import from_dict
from tests.conftest import tiny_config


class Recorder(evo.Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_start(self, config: evo.ExperimentConfig, generations: int) -> None:
        self.calls.append(("start", (config.name, generations)))

    def on_generation(self, record: dict) -> None:
        self.calls.append(("generation", record))

    def on_checkpoint(self, generation: int, path: Path) -> None:
        self.calls.append(("checkpoint", (generation, path.exists())))

    def on_stop(self, summary: dict) -> None:
        self.calls.append(("stop", summary))


def test_every_hook_in_order_with_what_the_folder_holds(tmp_path: Path) -> None:
    recorder = Recorder()
    config = from_dict(tiny_config(generations=5, checkpoint={"every": 2}))
    result = evo.run(config, tmp_path, callbacks=[recorder], quiet=True)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["start", *["generation"] * 2, "checkpoint", *["generation"] * 2,
                     "checkpoint", "generation", "checkpoint", "stop"]  # fmt: skip
    assert recorder.calls[0][1] == ("tiny", 5)
    lines = (result.path / "metrics.jsonl").read_text().splitlines()
    records = [value for kind, value in recorder.calls if kind == "generation"]
    assert records == [json.loads(line) for line in lines]
    assert [record["generation"] for record in records] == [1, 2, 3, 4, 5]
    assert [v for k, v in recorder.calls if k == "checkpoint"] == [(2, True), (4, True), (5, True)]
    assert recorder.calls[-1][1] == json.loads((result.path / "summary.json").read_text())


def test_gradient_rounds_report_their_own_total(tmp_path: Path) -> None:
    recorder = Recorder()
    config = from_dict(
        tiny_config(
            mode="gradient",
            data={"name": "spiral", "eval_every": 2},
            env={"id": "CartPole-v1"},
            gradient={"batch_size": 64, "shards": 2, "epochs": 0.01},
            algorithm={"name": "openai_es"},
        )
    )
    evo.run(config, tmp_path, callbacks=[recorder], quiet=True)
    (_, (_, rounds)), *rest = recorder.calls
    generations = [v for k, v in rest if k == "generation"]
    assert rounds == len(generations) == 7  # ceil(0.01 epochs of 40,000 / 64)
    assert all(record["mode"] == "gradient" for record in generations)


def test_a_callback_that_raises_stops_the_run(tmp_path: Path) -> None:
    class Stop(evo.Callback):
        def on_generation(self, record: dict) -> None:
            if record["generation"] == 2:
                raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        evo.run(from_dict(tiny_config(generations=5)), tmp_path, callbacks=[Stop()], quiet=True)
    (run,) = tmp_path.iterdir()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert not (run / "summary.json").exists()
