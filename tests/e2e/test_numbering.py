"""One numbering of generations everywhere a user sees one: from 1 in every file and on
screen (formats 2 and 3), a format-1 folder (counted from 0) read the same way, a format-2
folder (noise seeded per member) read but neither resumed nor rebuilt, a newer one refused."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from evo.runformat import FORMAT
from evo.runlog import load_npz, npz_bytes
from evo.serve.runs import event_marks, series
from tests.conftest import run_cli, tiny_config, write_config

GENERATIONS = 4
GA = {"name": "ga", "population_size": 12, "truncation": 4, "elites": 2, "sigma": 0.1}


def evo(*args: str) -> str:
    """Standard output of a successful ``evo`` command."""
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A serial GA run of 4 generations, checkpoints after 2 and 4, with lineage."""
    root = tmp_path_factory.mktemp("numbering")
    config = tiny_config(
        algorithm=GA,
        generations=GENERATIONS,
        checkpoint={"every": 2, "keep": 10},
        final_eval={"episodes": 1},
    )
    config["stop"] = {"target_fitness": None}
    path = write_config(root / "ga.yaml", config)
    done = run_cli("run", str(path), "--runs-dir", str(root / "runs"))
    assert done.returncode == 0, done.stderr
    assert f"gen 1/{GENERATIONS}" in done.stdout + done.stderr
    assert f"gen {GENERATIONS}/{GENERATIONS}" in done.stdout + done.stderr
    (found,) = (root / "runs").iterdir()
    return found


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def table_generations(out: str) -> list[int]:
    """The ``gen`` column of ``evo inspect``'s per-generation table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["gen"])
    return [int(line.split()[0]) for line in lines[start + 1 :] if line.strip()]


def views(run: Path, scratch: Path, member: bool = True) -> dict[str, object]:
    """What a user sees of a run: inspect's tables, the CSV exports, a rebuilt member
    (with ``member``)."""
    scratch.mkdir()
    out = {
        "inspect": evo("inspect", str(run)),
        "generation": evo("inspect", str(run), "--generation", "3").splitlines()[1],
        "lineage": evo("inspect", str(run), "--lineage", "3:5"),
        "events": [line[8:] for line in evo("inspect", str(run), "--events").splitlines()],
    }
    evo(
        "export", str(run), "--csv", str(scratch / "m.csv"), "--lineage-csv", str(scratch / "l.csv")
    )
    out["metrics.csv"] = (scratch / "m.csv").read_text()
    out["lineage.csv"] = (scratch / "l.csv").read_text()
    if not member:
        return {k: v.replace(str(run), "RUN") if isinstance(v, str) else v for k, v in out.items()}
    line = evo("export", str(run), "--member", "3:5", "-o", str(scratch / "member.npz"))
    out["member"] = line.split(": ", 1)[1]
    out["params"] = load_npz(scratch / "member.npz")["params"].tolist()
    return {
        key: value.replace(str(run), "RUN") if isinstance(value, str) else value
        for key, value in out.items()
    }


def test_every_place_names_a_generation_alike(run_dir: Path, tmp_path: Path) -> None:
    numbers = list(range(1, GENERATIONS + 1))
    assert f"# format {FORMAT}\n" in (run_dir / "config.yaml").read_text()
    assert json.loads((run_dir / "summary.json").read_text())["format"] == FORMAT
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["generation"] for line in metrics] == numbers
    files = sorted((run_dir / "lineage").glob("*.npz"))
    assert [f.name for f in files] == [f"{n:06d}.npz" for n in numbers]
    for number, path in zip(numbers, files, strict=True):
        record = load_npz(path)
        assert int(record["generation"]) == number
        parents = set(record["parent_generation"].tolist())
        assert parents == ({-1} if number == 1 else {number - 1})  # elites re-evaluated
    # Checkpoints: the state after generation K; their events say the same K.
    stems = sorted(p.stem for p in (run_dir / "checkpoints").glob("gen-*.json"))
    assert stems == ["gen-000000", "gen-000002", "gen-000004"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    saved = [e["generation"] for e in events if e["event"] == "checkpoint"]
    assert saved == [0, 2, 4]
    assert [e["generations"] for e in events if e["event"] == "stop"] == [GENERATIONS]

    seen = views(run_dir, tmp_path / "views")
    assert table_generations(seen["inspect"]) == numbers
    assert seen["generation"].startswith("generation 3: 12 members")
    shown = evo("inspect", str(run_dir), "--generation", "3")
    assert f"lineage: {run_dir / 'lineage' / '000003.npz'}," in shown
    assert seen["lineage"].splitlines()[4].split()[:2] == ["3", "5"]
    rows = csv_rows(tmp_path / "views" / "m.csv")
    assert [int(row["generation"]) for row in rows] == numbers
    members = csv_rows(tmp_path / "views" / "l.csv")
    assert sorted({int(row["generation"]) for row in members}) == numbers
    third = load_npz(run_dir / "lineage" / "000003.npz")
    assert [float(r["fitness"]) for r in members if r["generation"] == "3"] == list(
        third["fitness"]
    )
    # The member of generation 3, rebuilt from the checkpoint after generation 2.
    assert seen["member"].startswith(f"member 3:5 (fitness {third['fitness'][5]:.4g})")
    assert (
        "rebuilt from the checkpoint after generation 2, 0 generations replayed" in seen["member"]
    )
    member = load_npz(tmp_path / "views" / "member.npz")
    assert int(member["generation"]) == 3 and float(member["fitness"]) == third["fitness"][5]


def write_format_1(run: Path, old: Path) -> None:
    """``run`` copied to ``old`` in the layout of format 1: generations from 0 in the
    metrics, the lineage and the events other than checkpoints and resumes."""
    shutil.copytree(run, old)
    config = old / "config.yaml"
    config.write_text(config.read_text().replace(f"# format {FORMAT}\n", ""))
    summary = json.loads((old / "summary.json").read_text())
    (old / "summary.json").write_text(json.dumps({**summary, "format": 1}))

    def earlier(record: dict) -> dict:
        return {**record, "generation": record["generation"] - 1}

    lines = [json.loads(line) for line in (old / "metrics.jsonl").read_text().splitlines()]
    (old / "metrics.jsonl").write_text("".join(json.dumps(earlier(x)) + "\n" for x in lines))
    events = [json.loads(line) for line in (old / "events.jsonl").read_text().splitlines()]
    # An event that names the generation it happened in (from 0 in format 1), as a
    # straggler's does on a cluster.
    events.insert(
        3,
        {"time": events[2]["time"], "event": "stragglers_resubmitted", "generation": 3, "tasks": 1},
    )
    (old / "events.jsonl").write_text(
        "".join(
            json.dumps(
                e if e["event"] in ("checkpoint", "resume") or "generation" not in e else earlier(e)
            )
            + "\n"
            for e in events
        )
    )
    for path in sorted((old / "lineage").glob("*.npz")):
        arrays = load_npz(path)
        arrays["generation"] = arrays["generation"] - 1
        parents = arrays["parent_generation"]
        arrays["parent_generation"] = np.where(parents > 0, parents - 1, parents).astype(
            parents.dtype
        )
        path.unlink()
        (old / "lineage" / f"{int(path.stem) - 1:06d}.npz").write_bytes(npz_bytes(arrays))


def test_a_format_1_folder_reads_the_same(run_dir: Path, tmp_path: Path) -> None:
    from evo.runlog import RunRecord

    new = tmp_path / "new"
    write_format_1(run_dir, tmp_path / "scratch")
    # The same extra event in the format-2 copy, numbered from 1.
    shutil.copytree(run_dir, new)
    events = (new / "events.jsonl").read_text().splitlines(keepends=True)
    stamp = json.loads(events[2])["time"]
    extra = {"time": stamp, "event": "stragglers_resubmitted", "generation": 3, "tasks": 1}
    events.insert(3, json.dumps(extra) + "\n")
    (new / "events.jsonl").write_text("".join(events))
    old = tmp_path / "old"
    (tmp_path / "scratch").rename(old)
    assert sorted(p.name for p in (old / "lineage").iterdir())[0] == "000000.npz"

    seen_old = views(old, tmp_path / "o", member=False)
    seen_new = views(new, tmp_path / "n", member=False)
    current = f"\nformat: {FORMAT}\n"
    assert "\nformat: 1\n" in seen_old["inspect"] and current in seen_new["inspect"]
    seen_old["inspect"] = seen_old["inspect"].replace("\nformat: 1\n", current)
    assert seen_old == seen_new
    assert "stragglers_resubmitted" in " ".join(seen_new["events"])
    records = RunRecord.read(old), RunRecord.read(new)
    assert records[0].metrics == records[1].metrics
    assert series(records[0].metrics) == series(records[1].metrics)
    assert event_marks(records[0]) == event_marks(records[1])
    assert 3.0 in event_marks(records[0])["generation"]
    # Resuming it is refused in one line: its logs count otherwise.
    (old / "summary.json").unlink()
    done = run_cli("resume", str(old))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "format 1" in done.stderr and "does not resume" in done.stderr


def test_a_newer_format_is_refused(run_dir: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(run_dir, newer)
    config = newer / "config.yaml"
    config.write_text(
        config.read_text().replace(f"# format {FORMAT}\n", f"# format {FORMAT + 1}\n")
    )
    target = tmp_path / "m.csv"
    for args in (
        ["inspect", str(newer)],
        ["inspect", str(newer), "--generation", "1"],
        ["export", str(newer), "--csv", str(target)],
        ["plot", str(newer), "-o", str(tmp_path / "f.png")],
        ["resume", str(newer)],
    ):
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"format {FORMAT + 1}, newer than this evo reads" in done.stderr, done.stderr
    assert not target.exists() and not (tmp_path / "f.png").exists()


def test_a_format_2_folder_is_read_but_neither_resumed_nor_rebuilt(
    run_dir: Path, tmp_path: Path
) -> None:
    """Format 2 named each member's noise by a generator seed: its files read as before,
    but its members cannot be rebuilt nor its run continued with the noise table."""
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    config = old / "config.yaml"
    config.write_text(config.read_text().replace(f"# format {FORMAT}\n", "# format 2\n"))
    for path in sorted((old / "lineage").glob("*.npz")):
        arrays = load_npz(path)
        arrays["noise_seed"] = arrays.pop("noise_offset").astype(np.uint64) + 7
        del arrays["noise_table"]
        path.write_bytes(npz_bytes(arrays))
    shown = evo("inspect", str(old), "--generation", "3")
    assert "noise(seed " in shown and "noise(offset " not in shown
    evo("export", str(old), "--lineage-csv", str(tmp_path / "l.csv"))
    rows = csv_rows(tmp_path / "l.csv")
    assert "noise_seed" in rows[0] and len(rows) == 12 * GENERATIONS
    done = run_cli("export", str(old), "--member", "3:5", "-o", str(tmp_path / "m.npz"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "format 2" in done.stderr and "seeded per member" in done.stderr
    assert not (tmp_path / "m.npz").exists()
    (old / "summary.json").unlink()
    done = run_cli("resume", str(old))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "format 2" in done.stderr and "does not resume" in done.stderr
