"""Lineage: what the loop records per member, `evo inspect --lineage/--generation`,
`evo export --lineage-csv` and `evo export --member` (members rebuilt bit for bit)."""

from __future__ import annotations

import csv
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evo.backends.serial import SerialBackend
from evo.callbacks import CallbackList
from evo.checkpoints import Tally
from evo.cli import main
from evo.config import dump_yaml, from_dict
from evo.experiment import resume, run
from evo.lineage import MEMBER_COLUMNS, TIMING_COLUMNS, best_member
from evo.loop import run_loop
from evo.methods import make_method
from evo.noise import NoiseTable
from evo.population import Bases, Members, materialize
from evo.problems import make_problem
from evo.reporting import Reporter
from evo.runformat import FORMAT
from evo.runlog import RunFolder, load_npz, npz_bytes
from evo.session import Session
from tests.conftest import run_cli, tiny_config

ALGORITHMS = {
    "openai_es": {"name": "openai_es", "population_size": 10, "sigma": 0.1},
    "ga": {"name": "ga", "population_size": 12, "truncation": 4, "elites": 2, "sigma": 0.1},
    "ga-carry": {
        "name": "ga",
        "population_size": 12,
        "truncation": 4,
        "elites": 2,
        "elite_mode": "carry",
        "sigma": 0.1,
    },
}


class RecordingBackend(SerialBackend):
    """The serial backend, keeping every generation's parameter vectors as evaluated."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.vectors: dict[int, np.ndarray] = {}

    def evaluate(self, population, episode_seeds, generation):
        if generation >= 0:
            self.vectors[generation] = population.params()
        return super().evaluate(population, episode_seeds, generation)


def recorded_run(tmp_path: Path, algorithm: str, **overrides: Any) -> tuple[Path, dict]:
    """A real run through the loop (serial), with the vectors it evaluated (by the
    generation's index, from 0)."""
    config = from_dict(tiny_config(algorithm=ALGORITHMS[algorithm], **overrides))
    problem = make_problem(config)
    backend = RecordingBackend(problem, config.backend)
    folder = RunFolder.create(tmp_path / "runs", config.name)
    folder.write_config(f"# format {FORMAT}\n" + dump_yaml(config))  # as evo run writes it
    method = make_method(config, problem)
    callbacks = CallbackList([Reporter(quiet=True)])
    started = time.perf_counter()
    session = Session(
        config, problem, method, backend, folder, callbacks, started, Tally(), started
    )
    run_loop(session, method.init(session.seed))
    return folder.path, backend.vectors


def lineage(run_dir: Path) -> list[dict[str, np.ndarray]]:
    """The run's lineage files, generation 1 first (named from 000001)."""
    files = sorted((run_dir / "lineage").glob("*.npz"))
    assert [int(f.stem) for f in files] == list(range(1, len(files) + 1))
    return [load_npz(f) for f in files]


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """The `evo` command line, in process (fast); returns status, stdout, stderr."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module", params=sorted(ALGORITHMS))
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """9 generations, checkpoints after 3, 6 and 9 generations, the newest 2 kept."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    run_dir, vectors = recorded_run(
        tmp_path, request.param, generations=9, checkpoint={"every": 3, "keep": 2}
    )
    return request.param, run_dir, vectors


def test_every_generation_records_its_members(recorded) -> None:
    algorithm, run_dir, vectors = recorded
    records = lineage(run_dir)
    metrics = RunFolder(run_dir).read_metrics()
    assert len(records) == len(metrics) == len(vectors) == 9
    steps = 0
    for generation, (record, line) in enumerate(zip(records, metrics, strict=True)):
        assert int(record["generation"]) == generation + 1 == line["generation"]
        n = len(vectors[generation])
        assert all(record[column].shape == (n,) for column in MEMBER_COLUMNS)
        assert record["fitness"].max() == line["fitness_max"]
        assert record["fitness"].mean() == pytest.approx(line["fitness_mean"], rel=1e-12)
        steps += int(record["steps"].sum())
        assert steps == line["env_steps"]
        assert list(record["workers"]) == ["local"] and set(record["worker"]) == {0}
        assert np.all(record["seconds"] > 0) and np.all(record["task"] >= 0)
        assert bool(record["incumbent"]) == (algorithm != "ga-carry")
    if algorithm == "openai_es":
        assert all(str(r["bases"]) == "centre" for r in records)
        assert all(np.all(r["parent_generation"] == -1) for r in records)
        return
    # GA: each member's base is the vector of the parent it names, evaluated earlier.
    for generation, record in enumerate(records):
        for member in range(len(record["fitness"])):
            parent_generation = int(record["parent_generation"][member])
            if generation == 0:
                assert parent_generation == -1  # the initial parameters
                continue
            assert 1 <= parent_generation <= generation  # numbered from 1, an earlier one
            if algorithm == "ga":
                assert parent_generation == generation  # elites are evaluated again
            parent = vectors[parent_generation - 1][int(record["parent_member"][member])]
            one = Members.build(
                [0], record["noise_offset"][member], record["scale"][member], record["sign"][member]
            )
            table = NoiseTable.from_array(record["noise_table"])
            np.testing.assert_array_equal(
                materialize(Bases(parent[None, :], noise=table), one)[0],
                vectors[generation][member],
            )
    # Reevaluated GA: the parents of generation g+1 are generation g's best members.
    if algorithm == "ga":
        for before, after in itertools.pairwise(records):
            chosen = set(after["parent_member"].tolist())
            top = np.argsort(-before["fitness"], kind="stable")[:4]
            assert chosen <= set(top.tolist())


@pytest.mark.parametrize("generation", [1, 5, 7, 8, 9])
def test_a_rebuilt_member_is_the_vector_evaluated(recorded, generation: int) -> None:
    """Generations 1 and 5: no checkpoint left before them (the one after 3 generations
    is pruned), so replayed from the start; 7: from a kept checkpoint as is; 8 and 9: not
    checkpoint generations, replayed from the checkpoint after 6."""
    from evo.lineage import rebuild_member

    _, run_dir, vectors = recorded
    folder = RunFolder(run_dir)
    kept = [int(p.stem.removeprefix("gen-")) for p in folder.checkpoints()]
    assert kept == [6, 9]
    size = len(vectors[generation - 1])
    for member in sorted({0, 1, size // 2, size - 1}):
        rebuilt = rebuild_member(folder, generation, member)
        np.testing.assert_array_equal(rebuilt.params, vectors[generation - 1][member])
        assert rebuilt.params.dtype == np.float32
        assert rebuilt.checkpoint == (6 if generation >= 7 else None)
        assert rebuilt.replayed == (generation - 7 if generation >= 7 else generation - 1)


def test_export_member_and_lineage_of_the_best(recorded, tmp_path: Path, capsys) -> None:
    algorithm, run_dir, vectors = recorded
    status, out, err = cli(capsys, "inspect", str(run_dir), "--lineage")
    assert status == 0, err
    header = out.splitlines()[1]
    best = best_member(RunFolder(run_dir))
    assert best is not None
    generation, member, fitness = best
    assert f"ancestry of {generation}:{member} (the best member" in header
    rows = [line.split() for line in out.splitlines()[4:]]
    assert rows[0][:3] == [str(generation), str(member), f"{fitness:.2f}"]
    assert "the initial parameters" in out.splitlines()[-1]
    generations = [int(row[0]) for row in rows]
    assert generations == sorted(generations, reverse=True) and generations[-1] == 1
    if algorithm == "openai_es":
        assert "the centre of generation" in out and all(row[1] == "0" for row in rows[1:])

    out_file = tmp_path / f"{algorithm}.npz"
    status, out, err = cli(
        capsys,
        "export",
        str(run_dir),
        "--member",
        f"{generation}:{member}",
        "-o",
        str(out_file),
    )
    assert status == 0, err
    assert out.startswith(f"{out_file}: member {generation}:{member}")
    exported = load_npz(out_file)
    np.testing.assert_array_equal(exported["params"], vectors[generation - 1][member])
    # ... and it is the best the strategy kept (its checkpoint's best_params).
    last = sorted((run_dir / "checkpoints").glob("gen-*.npz"))[-1]
    np.testing.assert_array_equal(exported["params"], load_npz(last)["state.best_params"])
    assert float(exported["fitness"]) == fitness == float(load_npz(last)["state.best_fitness"])
    best_npz = load_npz(run_dir / "best.npz")
    assert str(exported["policy_spec"]) == str(best_npz["policy_spec"])
    if algorithm == "openai_es":  # `evo replay --params` drives it (one strategy is enough)
        still = tmp_path / "member.png"
        status, _, err = cli(
            capsys, "replay", str(run_dir), "--params", str(out_file), "--png", "--out", str(still)
        )
        assert status == 0, err
        assert still.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generation_lists_members_best_first(recorded, capsys) -> None:
    _, run_dir, vectors = recorded
    status, out, err = cli(capsys, "inspect", str(run_dir), "--generation", "5")
    assert status == 0, err
    record = load_npz(run_dir / "lineage" / "000005.npz")
    lines = out.splitlines()
    assert lines[1].startswith(f"generation 5: {len(vectors[4])} members")
    size = (run_dir / "lineage" / "000005.npz").stat().st_size
    assert lines[2].endswith(f"000005.npz, {size / 1000:.1f} kB")
    listed = [line.split() for line in lines[5:]]
    assert [int(row[1]) for row in listed] == list(np.argsort(-record["fitness"], kind="stable"))
    assert [float(row[2]) for row in listed] == sorted(
        (round(float(f), 2) for f in record["fitness"]), reverse=True
    )
    assert all(row[4] == "local" for row in listed)


def test_lineage_csv_holds_every_member(recorded, tmp_path: Path, capsys) -> None:
    _, run_dir, vectors = recorded
    out_file = tmp_path / "lineage.csv"
    status, out, err = cli(capsys, "export", str(run_dir), "--lineage-csv", str(out_file))
    assert status == 0, err
    total = sum(len(v) for v in vectors.values())
    assert out.strip() == f"{out_file}: {total} rows"
    with out_file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == total
    assert list(rows[0]) == ["generation", "member", *MEMBER_COLUMNS]
    records = lineage(run_dir)
    for row in rows:
        record, member = records[int(row["generation"]) - 1], int(row["member"])
        assert int(row["parent_generation"]) == record["parent_generation"][member]
        assert float(row["fitness"]) == record["fitness"][member]  # no precision lost
        assert int(row["noise_offset"]) == int(record["noise_offset"][member])
        assert np.float32(row["scale"]) == record["scale"][member]
        assert int(row["parent_member"]) == record["parent_member"][member]
        assert row["worker"] == "local"


@pytest.mark.parametrize("algorithm", ["openai_es", "ga"])
def test_a_resumed_run_has_the_lineage_of_an_uninterrupted_one(
    tmp_path: Path, algorithm: str
) -> None:
    config = from_dict(
        tiny_config(
            algorithm=ALGORITHMS[algorithm],
            generations=7,
            checkpoint={"every": 2, "keep": 10},
            final_eval={"episodes": 1},
        )
    )
    reference = run(config, tmp_path / "reference", reporter=Reporter(quiet=True)).path
    # The same run, stopped after the checkpoint of generation 2 (later ones gone), its
    # later lineage left over: one file altered, one from beyond the end (as a first
    # attempt stopped later, by max_time_s, would leave).
    stopped = tmp_path / "stopped"
    shutil.copytree(reference, stopped)
    for name in ("summary.json", "best.npz"):
        (stopped / name).unlink()
    for path in (stopped / "checkpoints").iterdir():
        if int(path.stem.removeprefix("gen-")) > 2:
            path.unlink()
    altered = load_npz(stopped / "lineage" / "000004.npz")
    altered["fitness"] = np.zeros_like(altered["fitness"])
    (stopped / "lineage" / "000004.npz").write_bytes(npz_bytes(altered))
    shutil.copy(stopped / "lineage" / "000007.npz", stopped / "lineage" / "000009.npz")

    resume(stopped, reporter=Reporter(quiet=True))
    resumed, expected = lineage(stopped), lineage(reference)
    assert len(resumed) == len(expected) == 7
    for generation, (got, want) in enumerate(zip(resumed, expected, strict=True)):
        assert got.keys() == want.keys()
        for key in set(got) - set(TIMING_COLUMNS):
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{generation}: {key}")


def test_a_checkpoint_from_before_parent_origins_still_resumes(tmp_path: Path, capsys) -> None:
    """GA checkpoints written before the lineage lack ``parent_origin``: resuming works
    and the parents selected after the resume are named."""
    config = from_dict(
        tiny_config(
            algorithm=ALGORITHMS["ga"],
            generations=4,
            checkpoint={"every": 2},
            final_eval={"episodes": 1},
        )
    )
    run_dir = run(config, tmp_path, reporter=Reporter(quiet=True)).path
    (run_dir / "summary.json").unlink()
    for path in (run_dir / "checkpoints").glob("gen-00000[34].*"):
        path.unlink()
    checkpoint = run_dir / "checkpoints" / "gen-000002.npz"
    arrays = load_npz(checkpoint)
    del arrays["state.parent_origin"]
    checkpoint.write_bytes(npz_bytes(arrays))
    shutil.rmtree(run_dir / "lineage")

    resume(run_dir, reporter=Reporter(quiet=True))
    records = lineage_from(run_dir, first=3)
    assert np.all(records[0]["parent_generation"] == -1)  # selected before: not known
    assert np.all(records[1]["parent_generation"] == 3)  # selected after the resume
    status, out, err = cli(capsys, "inspect", str(run_dir), "--lineage", "4:5")
    assert status == 0, err
    assert "an unrecorded parent" in out and "(no lineage" not in out


def lineage_from(run_dir: Path, first: int) -> list[dict[str, np.ndarray]]:
    files = sorted((run_dir / "lineage").glob("*.npz"))
    assert int(files[0].stem) == first
    return [load_npz(f) for f in files]


def test_bad_members_and_runs_without_lineage_are_one_line(
    recorded, tmp_path: Path, capsys
) -> None:
    _, run_dir, _ = recorded
    target = str(tmp_path / "m.npz")
    for args, fragment in [
        (["export", str(run_dir), "--member", "abc", "-o", target], "expected GEN:ID"),
        (["export", str(run_dir), "--member", "3", "-o", target], "expected GEN:ID"),
        (["export", str(run_dir), "--member", "3:-1", "-o", target], "expected GEN:ID"),
        (["export", str(run_dir), "--member", "0:1", "-o", target], "count from 1"),
        (["export", str(run_dir), "--member", "10:0", "-o", target], "from 1 to 9"),
        (["export", str(run_dir), "--member", "2:99", "-o", target], "members 0 to"),
        (["export", str(run_dir), "--member", "2:1"], "go together"),
        (["export", str(run_dir)], "expected --csv"),
        (
            ["export", str(run_dir), "--member", "2:1", "-o", str(tmp_path / "no" / "m.npz")],
            "does not exist",
        ),
        (["inspect", str(run_dir), "--generation", "0"], "from 1 to 9"),
        (["inspect", str(run_dir), "--generation", "10"], "from 1 to 9"),
        (["inspect", str(run_dir), "--lineage", "9:x"], "expected GEN:ID"),
    ]:
        status, _, err = cli(capsys, *args)
        assert status == 2 and err.count("\n") == 1 and fragment in err, (args, err)
        assert not Path(target).exists()

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    shutil.rmtree(old / "lineage")  # a run made before evo recorded lineage
    for args in [
        ["inspect", str(old), "--lineage"],
        ["inspect", str(old), "--generation", "1"],
        ["export", str(old), "--member", "1:0", "-o", target],
        ["export", str(old), "--lineage-csv", str(tmp_path / "l.csv")],
    ]:
        status, _, err = cli(capsys, *args)
        assert status == 2 and err.count("\n") == 1 and "no lineage recorded" in err, err
    assert not (tmp_path / "l.csv").exists()
    # The real command line says the same.
    result = run_cli("export", str(old), "--member", "1:0", "-o", target)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no lineage recorded" in result.stderr


def test_dask_workers_are_named(tmp_path: Path, client_2workers) -> None:
    config = tiny_config(generations=2, final_eval={"episodes": 1})
    dask = from_dict(
        {
            **config,
            "backend": {
                "kind": "dask",
                "start_after_s": 0,
                "placement": "cluster",
                "chunk_size": 2,
            },
        }
    )
    serial = from_dict(config)
    run_dir = run(dask, tmp_path / "dask", client=client_2workers, reporter=Reporter(quiet=True))
    reference = run(serial, tmp_path / "serial", reporter=Reporter(quiet=True))
    addresses = set(client_2workers.scheduler_info(n_workers=-1)["workers"])
    for got, want in zip(lineage(run_dir.path), lineage(reference.path), strict=True):
        names = [str(w) for w in got["workers"]]
        assert names and set(names) <= addresses
        assert {names[i] for i in got["worker"]} == set(names)
        assert len(set(got["task"].tolist())) == 6  # 11 members, 2 a task
        np.testing.assert_array_equal(got["fitness"], want["fitness"])


def test_made_from_names_the_spread_and_dense_members() -> None:
    from evo.lineage import made_from
    from evo.methods.evolution import CENTRE

    record = {
        "generation": np.int64(3),
        "bases": np.array(CENTRE),
        "spread": np.bool_(True),
        "base_index": np.array([0, 0, 3], np.int32),
        "noise_offset": np.array([0, 11, 0], np.int64),
        "scale": np.array([0.0, 1.0, 0.0], np.float32),
        "sign": np.array([1, -1, 1], np.int8),
    }
    assert made_from(record, 1) == "the centre of generation 3 - 1 x (stdev * noise(offset 11))"
    # A folder of format 2 named the noise by a generator seed.
    old = {k: v for k, v in record.items() if k != "noise_offset"}
    old["noise_seed"] = record["noise_offset"].astype(np.uint64)
    assert made_from(old, 1) == "the centre of generation 3 - 1 x (stdev * noise(seed 11))"
    assert made_from(record, 2).startswith("a sample of generation 3's search distribution")
