"""The sweep folder: a run folder per (setting, seed), `base.yaml` and the `sweep.json` record."""

from __future__ import annotations

import itertools
import json

from evo.config import load_config


def test_sweep_folder_holds_every_run(sweep) -> None:
    path, result = sweep
    assert path.name.startswith("tiny-sweep-")
    names = ["sigma=0.05-seed=0", "sigma=0.05-seed=1", "sigma=0.1-seed=0", "sigma=0.1-seed=1"]
    assert sorted(p.name for p in path.iterdir()) == sorted([*names, "base.yaml", "sweep.json"])
    record = json.loads((path / "sweep.json").read_text())
    assert record["grid"] == {"algorithm.sigma": [0.05, 0.1]} and record["seeds"] == [0, 1]
    assert record["status"] == "finished" and record["parallel"] == 2, record
    assert [entry["folder"] for entry in record["runs"]] == names
    for entry in record["runs"]:
        assert entry["status"] == "finished" and entry["error"] is None
        config = load_config(path / entry["folder"] / "config.yaml")
        assert config.seed == entry["seed"] and config.generations == 3
        assert config.algorithm.sigma == entry["values"]["algorithm.sigma"]
        assert (path / entry["folder"] / "summary.json").is_file()
    # Several experiments at once on the one cluster.
    spans = sorted((entry["started"], entry["ended"]) for entry in record["runs"])
    overlapping = any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    assert overlapping, f"the runs ran one after another: {spans}"
    lines = result.stdout.splitlines()
    assert "embedded LocalCluster" in lines[0]
    ended = [line for line in lines if line.startswith("[")]
    assert sorted(line.split()[1].rstrip(":") for line in ended) == names
    assert result.stderr == "", result.stderr
