"""MLflow runs, live (`logging.mlflow: true`) and from `evo export --mlflow`, read back with
MLflow's own client: from a local file store and from a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, run_cli, tiny_config, wait_for_generations, write_config
from tests.e2e.recorded import TIMING
from tests.loggers.conftest import logged_run, metrics, numeric

mlflow_tracking = pytest.importorskip("mlflow.tracking", reason="evo[mlflow] is not installed")


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """config.yaml's keys, dotted, with their values as YAML reads them."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def logged_run_id(run: Path) -> tuple[str, str]:
    """The tracking URI and MLflow run id the run folder's events name."""
    for line in (run / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "mlflow":
            return event["tracking_uri"], event["run_id"]
    raise AssertionError(f"{run}: no mlflow event")


def param(text: str) -> Any:
    """A param's value: JSON, or a string as it is."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check_mlflow_run(
    client: Any, run_id: str, run: Path, status: str = "FINISHED", skip: frozenset = frozenset()
) -> None:
    """Params: the resolved config; every finite metrics value at its generation's step;
    the summary's scores; the run folder's files and a plot as artifacts (``skip``: keys
    not compared)."""
    logged = client.get_run(run_id)
    assert logged.info.status == status
    assert logged.info.run_name == run.name
    config = yaml.safe_load((run / "config.yaml").read_text())
    params = {key: param(value) for key, value in logged.data.params.items()}
    assert {k: v for k, v in params.items() if k not in skip} == {
        k: v for k, v in flat(config).items() if k not in skip
    }
    lines = metrics(run)
    for column in {key for record in lines for key in numeric(record)} - skip:
        history = {m.step: m.value for m in client.get_metric_history(run_id, column)}
        expected = {r["generation"]: numeric(r)[column] for r in lines if column in numeric(r)}
        assert history == pytest.approx(expected), column
        assert len(client.get_metric_history(run_id, column)) == len(expected), column
    if status == "FINISHED":
        summary = json.loads((run / "summary.json").read_text())
        assert logged.data.metrics["final_eval_mean"] == pytest.approx(summary["final_eval_mean"])
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        assert {"best.npz", "config.yaml", "summary.json", "metrics.jsonl", "fitness.png"} <= (
            artifacts
        )


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A local MLflow file store (allowed explicitly, as MLflow 3 asks)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").resolve().as_uri()


def test_a_live_run_logs_to_a_local_file_store(tmp_path: Path, file_store: str) -> None:
    run = logged_run(
        tmp_path,
        "--set",
        "logging.mlflow=true",
        "--set",
        f"logging.mlflow_tracking_uri={file_store}",
    )
    uri, run_id = logged_run_id(run)
    assert uri == file_store
    client = mlflow_tracking.MlflowClient(tracking_uri=file_store)
    check_mlflow_run(client, run_id, run)
    assert client.get_experiment(client.get_run(run_id).info.experiment_id).name == "tiny"
    # The same folder again: refused, one line, nothing logged.
    again = run_cli("export", str(run), "--mlflow", file_store)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already logged" in again.stderr


def test_a_live_run_and_an_export_on_a_real_server(tmp_path: Path, mlflow_server: str) -> None:
    run = logged_run(
        tmp_path,
        "--set", "logging.mlflow=true",
        "--set", f"logging.mlflow_tracking_uri={mlflow_server}",
        "--set", "logging.mlflow_experiment=live",
    )  # fmt: skip
    client = mlflow_tracking.MlflowClient(tracking_uri=mlflow_server)
    check_mlflow_run(client, logged_run_id(run)[1], run)
    exported = run_cli(
        "export", str(run), "--mlflow", mlflow_server, "--mlflow-experiment", "exported"
    )
    assert exported.returncode == 0, exported.stderr
    run_id = exported.stdout.split("MLflow run ")[1].split()[0]
    check_mlflow_run(client, run_id, run)
    starts = json.loads((run / "events.jsonl").read_text().splitlines()[0])["time"]
    assert client.get_run(run_id).info.start_time == int(starts * 1000)
    best = client.download_artifacts(run_id, "best.npz", str(tmp_path))
    assert Path(best).read_bytes() == (run / "best.npz").read_bytes()


def test_an_unreachable_server_stops_before_anything_is_written(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tiny_config())
    result = run_cli(
        "run", str(path), "--runs-dir", str(tmp_path / "runs"),
        "--set", "logging.mlflow=true", "--set", "logging.mlflow_tracking_uri=http://127.0.0.1:9",
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("evo: error: logging.mlflow_tracking_uri: cannot reach")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_an_interrupted_run_is_killed_and_its_resume_finishes_it(
    tmp_path: Path, file_store: str
) -> None:
    """Ctrl-C marks the MLflow run KILLED; `evo resume` goes on in the same MLflow run and
    logs no generation twice, and TensorBoard drops what the first attempt wrote after the
    checkpoint, so each step holds one value, the final one."""
    config = tiny_config(generations=400, **{"checkpoint.every": 2, "stop.target_fitness": None})
    config["logging"] = {"mlflow": True, "mlflow_tracking_uri": file_store, "tensorboard": True}
    path = write_config(tmp_path / "c.yaml", config)
    command = [sys.executable, "-m", "evo", "run", str(path), "--runs-dir", str(tmp_path / "runs")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as run:
        try:
            wait_for_generations(tmp_path / "runs", 5)
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=60) == 130
        finally:
            if run.poll() is None:
                run.kill()
    (folder,) = (tmp_path / "runs").iterdir()
    client = mlflow_tracking.MlflowClient(tracking_uri=file_store)
    run_id = logged_run_id(folder)[1]
    assert client.get_run(run_id).info.status == "KILLED"
    logged = len(metrics(folder))
    text = (folder / "config.yaml").read_text()  # finish soon: two generations more
    text = text.replace("generations: 400", f"generations: {logged + 2}")
    (folder / "config.yaml").write_text(text)
    resumed = run_cli("resume", str(folder), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    # The generations run again keep their first values: the same but for the timings.
    # (and the params are the first attempt's: MLflow's params do not change).
    check_mlflow_run(client, run_id, folder, skip=TIMING | {"generations"})
    if importlib.util.find_spec("tensorboard") is not None:
        from tests.loggers.test_tensorboard import check_every_column

        check_every_column(folder, folder / "tensorboard")
