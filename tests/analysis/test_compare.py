"""`evo compare` on real run folders: ES over two seeds, a GA, and one config on three backends."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from evo.config import load_config
from evo.experiment import run as run_experiment
from evo.reporting import Reporter
from tests.conftest import ON_THE_CLUSTER, REPO, run_cli, tiny_config, write_config

GENERATIONS = 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short real CartPole runs: ES seeds 1 and 2 and a GA (serial), ES seed 1 on Dask with
    1 and 2 workers."""
    folder = tmp_path_factory.mktemp("compare")
    common = {"generations": GENERATIONS, "algorithm.population_size": 20}
    es = write_config(folder / "es.yaml", tiny_config(name="tiny-es", **common))
    ga = tiny_config(name="tiny-ga", **common)
    ga["algorithm"] = {"name": "ga", "population_size": 20, "truncation": 5, "elites": 1}
    ga = write_config(folder / "ga.yaml", ga)
    plan = {
        "es1": (es, ["--set", "seed=1"]),
        "es2": (es, ["--set", "seed=2"]),
        "ga": (ga, ["--set", "seed=1"]),
        "dask1": (
            es,
            [
                "--set",
                "seed=1",
                *ON_THE_CLUSTER,
            ],
        ),
        "dask2": (
            es,
            [
                "--set",
                "seed=1",
                *ON_THE_CLUSTER,
            ],
        ),
    }
    made = {}
    for key, (config, sets) in plan.items():
        if key.startswith("dask"):  # the real command line, cluster and all
            sets = [*sets, "--set", f"backend.workers={key[-1]}"]
            result = run_cli("run", str(config), *sets, "--runs-dir", str(folder / key), "--quiet")
            assert result.returncode == 0, result.stderr
            made[key] = Path(result.stdout.strip())
        else:  # serial: in process, quicker
            experiment = load_config(config, sets[1::2])
            made[key] = run_experiment(experiment, folder / key, reporter=Reporter(quiet=True)).path
    return made


def metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").open()]


def column(run: Path, key: str) -> np.ndarray:
    return np.array([np.nan if row.get(key) is None else row[key] for row in metrics(run)])


def summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text())


def cells(report: str, label: str) -> list[str]:
    """The cells of the first table row of ``label`` (columns are 2+ spaces apart)."""
    line = next(line for line in report.splitlines() if line.startswith(label + "  "))
    return re.split(r"\s{2,}", line.strip())


def first(cell: str) -> float:
    return float(cell.split()[0].replace(",", "").rstrip("x"))


def per_round_wall(run: Path) -> float:
    """Median seconds per round after the two warm-up rounds, from the log alone."""
    return float(np.median(np.diff(column(run, "time_s"), prepend=0.0)[2:]))


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 1200 and image.height >= 500
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # curves and bands, not a blank page


ES_SERIAL = "tiny-es openai_es, serial (2 seeds)"
ES_DASK1 = "tiny-es openai_es, dask 1 worker (1 seed)"
ES_DASK2 = "tiny-es openai_es, dask 2 workers (1 seed)"
GA = "tiny-ga ga (1 seed)"


def test_compare_figure_and_tables(runs: dict[str, Path], tmp_path: Path) -> None:
    es = [runs["es1"], runs["es2"]]
    # A threshold both ES seeds reach, from the logs.
    threshold = float(min(np.max(column(run, "fitness_mean")) for run in es))
    out = tmp_path / "compare.png"
    result = run_cli(
        "compare", *map(str, runs.values()), "-o", str(out), "--threshold", repr(threshold)
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert report.splitlines()[-1] == str(out)
    assert_png(out)

    for label in (ES_SERIAL, ES_DASK1, ES_DASK2, GA):
        assert cells(report, label)[0] == label
    row = cells(report, ES_SERIAL)
    assert row[1] == "2 (1, 2)"
    finals = [summary(run)["final_eval_mean"] for run in es]
    assert first(row[2]) == pytest.approx(np.median(finals), rel=1e-3)
    last = [column(run, "fitness_mean")[-1] for run in es]
    assert first(row[3]) == pytest.approx(np.median(last), rel=1e-3)
    assert "[" in row[3]  # two seeds: the inter-quartile range is shown
    assert row[5] == "2/2"
    hits = [int(np.argmax(column(run, "fitness_mean") >= threshold)) for run in es]
    times = [column(run, "time_s")[i] for run, i in zip(es, hits, strict=True)]
    steps = [column(run, "env_steps")[i] for run, i in zip(es, hits, strict=True)]
    assert first(row[6]) == pytest.approx(np.median(times), rel=1e-3)
    assert first(row[7]) == pytest.approx(np.median(steps), abs=0.51)
    assert row[8] == "0"  # serial: nothing communicated

    sent = np.cumsum(column(runs["dask2"], "bytes_sent") + column(runs["dask2"], "bytes_received"))
    reached = column(runs["dask2"], "fitness_mean") >= threshold
    expected = f"{sent[np.argmax(reached)]:,.0f}" if reached.any() else "-"
    assert cells(report, ES_DASK2)[8] == expected

    costs = report[report.index("wall s/round") :]
    assert first(cells(costs, GA)[1]) == pytest.approx(per_round_wall(runs["ga"]), rel=1e-3)
    per_round_bytes = column(runs["dask1"], "bytes_sent") + column(runs["dask1"], "bytes_received")
    assert first(cells(costs, ES_DASK1)[4]) == pytest.approx(
        np.median(per_round_bytes[2:]), abs=0.51
    )

    scaling = report[report.index("Scaling: tiny-es openai_es, seed 1") :]
    seconds = {key: per_round_wall(runs[key]) for key in ("es1", "dask1", "dask2")}
    for label, key in (("serial", "es1"), ("dask 1 worker", "dask1"), ("dask 2 workers", "dask2")):
        row = cells(scaling, label)
        assert first(row[2]) == pytest.approx(seconds[key], rel=1e-3)
        assert first(row[5]) == pytest.approx(seconds["es1"] / seconds[key], abs=0.006)
        assert first(row[6]) == pytest.approx(seconds["dask1"] / seconds[key], abs=0.006)
    assert "GA" not in scaling and "tiny-ga" not in scaling  # one backend: no scaling table
    # The runs are deterministic, so the check must say so.
    assert "final scores identical" in scaling
    assert re.search(r"over \d+ lines\s+identical", scaling)


def _as_gradient_run(run: Path, destination: Path, finished: bool) -> Path:
    """A copy of a real run made to look like a supervised gradient run: mode and optimizer in
    the config, samples and a sparse test_accuracy (every third line) in the metrics and,
    when finished, the trainer's name and a test accuracy in the summary."""
    shutil.copytree(run, destination)
    config = destination / "config.yaml"
    text = config.read_text()
    data = yaml.safe_load(text)
    data.update(name="tiny-sgd", mode="gradient", gradient={"optimizer": "sgd"}, data={})
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "# format 3\n" in header  # kept: the metrics below number generations from 1
    config.write_text(header + yaml.safe_dump(data, sort_keys=False))
    lines = []
    for row in metrics(run):
        row.update(mode="gradient", samples=3 * 32 * row["generation"])
        row["test_accuracy"] = (
            min(1.0, row["fitness_mean"] / 100) if row["generation"] % 3 == 0 else None
        )
        lines.append(json.dumps(row))
    (destination / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        data = summary(run)
        data.update(algorithm="sgd", test_accuracy=0.5)
        (destination / "summary.json").write_text(json.dumps(data))
    else:
        (destination / "summary.json").unlink()
    return destination


def test_compare_gradient_schema_and_unfinished_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    done = _as_gradient_run(runs["es1"], tmp_path / "sgd1", finished=True)
    going = _as_gradient_run(runs["es2"], tmp_path / "sgd2", finished=False)
    out = tmp_path / "gradient.png"
    result = run_cli("compare", str(done), str(going), "-o", str(out), "--threshold", "0.3")
    assert result.returncode == 0, result.stderr
    assert_png(out)
    report = result.stdout
    assert "last test_accuracy" in report  # every run logs it: the default y
    row = cells(report, "tiny-sgd gradient sgd (2 seeds)")  # one group, unfinished or not
    assert row[1] == "2 (1, 2*)" and "unfinished" in report
    assert row[2] == "0.5"  # the finished run's test accuracy only
    accuracy = [column(run, "test_accuracy") for run in (done, going)]
    last = [values[np.isfinite(values)][-1] for values in accuracy]
    assert first(row[3]) == pytest.approx(np.median(last), rel=1e-3)
    hits = [np.flatnonzero(values >= 0.3) for values in accuracy]
    samples = [column(run, "samples") for run in (done, going)]
    reached = [s[h[0]] if h.size else np.inf for s, h in zip(samples, hits, strict=True)]
    expected = np.median(reached)
    assert row[7] == (f"{expected:,.0f}" if np.isfinite(expected) else "-")

    # An evolution run beside them: fitness_mean is the default y again.
    mixed = run_cli("compare", str(done), str(runs["ga"]))
    assert mixed.returncode == 0, mixed.stderr
    assert "last fitness_mean" in mixed.stdout and "Scaling" not in mixed.stdout


def test_compare_bad_input_is_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    no_metrics = tmp_path / "no-metrics"
    no_metrics.mkdir()
    shutil.copy(runs["ga"] / "config.yaml", no_metrics / "config.yaml")
    good = str(runs["ga"])
    out = tmp_path / "f.png"
    cases = {
        "no runs": (["compare", "-o", str(out)], "RUN"),
        "missing": (["compare", str(tmp_path / "nope")], "no such run folder"),
        "not a run": (["compare", str(empty), good], "not an evo run folder"),
        "no metrics": (["compare", good, str(no_metrics)], "no generations"),
        "bad y": (["compare", good, "--y", "fitness_maen"], "did you mean 'fitness_mean'"),
        "bad threshold": (["compare", good, "--threshold", "high"], "--threshold"),
        "no folder": (["compare", good, "-o", str(tmp_path / "no" / "f.png")], "does not exist"),
    }
    for name, (args, message) in cases.items():
        result = run_cli(*args)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
    assert not out.exists()


def test_median_band_uses_carried_forward_values_for_sparse_keys() -> None:
    from evo.analysis.compare.figure import _on_grid

    xs = np.array([1.0, 2.0, 4.0])
    ys = np.array([0.1, 0.5, 0.9])
    grid = np.array([1.0, 1.5, 3.9, 4.0])
    assert _on_grid(xs, ys, grid, step=True).tolist() == [0.1, 0.1, 0.5, 0.9]
    assert _on_grid(xs, ys, grid, step=False) == pytest.approx([0.1, 0.3, 0.88, 0.9])


def test_compare_policy_gradient_beside_evolution(runs: dict[str, Path], tmp_path: Path) -> None:
    """Real policy-gradient runs (where the gradient mode exists) against the ES runs."""
    pytest.importorskip("evo.methods.gradient")
    config = REPO / "evo" / "configs" / "cartpole-pg.yaml"
    sets = ["generations=6", "backend.kind=serial", "final_eval.episodes=4"]
    made = [
        run_experiment(
            load_config(config, [*sets, f"seed={seed}"]), tmp_path, reporter=Reporter(quiet=True)
        ).path
        for seed in (1, 2)
    ]
    threshold = float(min(np.max(column(run, "fitness_mean")) for run in made))
    evolution = [str(runs["es1"]), str(runs["es2"])]
    result = run_cli("compare", *map(str, made), *evolution, "--threshold", repr(threshold))
    assert result.returncode == 0, result.stderr
    row = cells(result.stdout, "cartpole-pg gradient reinforce_adam (2 seeds)")
    hits = [int(np.argmax(column(run, "fitness_mean") >= threshold)) for run in made]
    samples = [column(run, "samples")[i] for run, i in zip(made, hits, strict=True)]
    assert row[5] == "2/2"
    assert first(row[7]) == pytest.approx(np.median(samples), abs=0.51)
    assert cells(result.stdout, "tiny-es openai_es (2 seeds)")[1] == "2 (1, 2)"


def test_an_embedded_cluster_run_is_labelled_by_its_workers_even_if_it_never_started(
    tmp_path: Path,
) -> None:
    """A short run on the default embedded cluster keeps its generations in process (its
    metrics say 1 worker); it is still a run of one worker per core, not of one worker."""
    import os

    from evo.analysis.compare.runs import load_run
    from evo.config import from_dict

    config = from_dict(tiny_config(backend={"kind": "dask", "start_after_s": 3600}))
    path = run_experiment(config, tmp_path, reporter=Reporter(quiet=True)).path
    run = load_run(path)
    assert {row["workers"] for row in run.metrics} == {1}  # every generation here
    cores = os.cpu_count() or 0
    assert run.workers == cores
    assert run.backend == f"dask {cores} worker{'s' if cores != 1 else ''}"
