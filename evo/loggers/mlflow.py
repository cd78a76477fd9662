"""An MLflow run of an evo run: the resolved config as params (flattened, ``algorithm.sigma``),
every metrics column per generation (step: the line's ``generation``), the summary's scores,
and the run folder's files (config, summary, logs, ``best.npz``, a fitness plot) as
artifacts. Logged live (``logging.mlflow: true``) or afterwards (``evo export RUN --mlflow``),
the same way; the run folder's events say where it went."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evo.callbacks import Callback
from evo.config import ExperimentConfig
from evo.errors import ConfigError, RunFolderError
from evo.loggers.common import (
    SUMMARY_SCALARS,
    flat_params,
    line_times,
    require,
    scalars,
    started_at,
)
from evo.runlog import BEST, CONFIG, EVENTS, METRICS, SUMMARY, RunFolder, RunRecord

RUN_FOLDER_TAG = "evo.run_folder"
ARTIFACTS = (CONFIG, SUMMARY, METRICS, EVENTS, BEST)
_BATCH = 1000  # metrics a request (MLflow's limit); params go 100 a request


def tracking_uri(configured: str | None) -> str:
    """The tracking URI: the configured one, else ``MLFLOW_TRACKING_URI``, else MLflow's
    default (a local store in the working directory); a plain path becomes a file URI."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        import mlflow

        return mlflow.get_tracking_uri()
    if "://" not in uri:
        return Path(uri.removeprefix("file:")).resolve().as_uri()
    return uri


def connect(uri: str, key: str) -> Any:
    """An ``MlflowClient`` on ``uri`` whose store answers, or one line naming ``key``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # evo's standard output is its own (its last line is the run folder): MLflow is not to
    # print its "View run at" links there; the run folder's events name the run instead.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    if uri.startswith(("http://", "https://")):
        import urllib.error  # here: urllib.request and its imports cost every run ~15 ms
        import urllib.request

        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5):
                pass
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"{key}: cannot reach the MLflow server {uri}: {reason}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
    except MlflowException as exc:
        first = str(exc.message).split(". ")[0].rstrip(".")
        raise ConfigError(f"{key}: MLflow cannot use {uri}: {first}") from None
    return client


class MlflowRun:
    """One MLflow run, logged to through a client (no global "active run": several evo
    runs of a sweep log at once from their threads)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self.step = 0

    @classmethod
    def create(cls, client: Any, experiment: str, run: RunRecord, start_s: float | None) -> Any:
        """A new run named after the run folder, in ``experiment`` (made if need be)."""
        found = client.get_experiment_by_name(experiment)
        if found is None:
            try:
                experiment_id = client.create_experiment(experiment)
            except Exception:  # made meanwhile by another run of a sweep
                found = client.get_experiment_by_name(experiment)
                if found is None:
                    raise
                experiment_id = found.experiment_id
        else:
            experiment_id = found.experiment_id
        tags = {RUN_FOLDER_TAG: str(run.path), "mlflow.source.name": "evo"}
        tags["evo.config"] = str(run.config.get("name", ""))
        if (run.path.parent / "sweep.json").is_file():
            tags["evo.sweep"] = str(run.path.parent)
        start = None if start_s is None else int(start_s * 1000)
        made = client.create_run(experiment_id, start_time=start, tags=tags, run_name=run.path.name)
        return cls(client, made.info.run_id)

    def params(self, config: dict[str, Any]) -> int:
        """The config's flat params; how many."""
        from mlflow.entities import Param

        flat = [Param(key, value[:6000]) for key, value in flat_params(config).items()]
        for start in range(0, len(flat), 100):
            self.client.log_batch(self.run_id, params=flat[start : start + 100])
        return len(flat)

    def generations(self, lines: Iterable[tuple[dict[str, Any], float | None]]) -> int:
        """Metrics lines (each with its wall-clock time, None: now) as steps; how many."""
        from mlflow.entities import Metric

        batch, count = [], 0
        for record, walltime in lines:
            self.step, count = int(record["generation"]), count + 1
            stamp = int((time.time() if walltime is None else walltime) * 1000)
            batch += [Metric(k, v, stamp, self.step) for k, v in scalars(record)]
        for start in range(0, len(batch), _BATCH):
            self.client.log_batch(self.run_id, metrics=batch[start : start + _BATCH])
        return count

    def summary(self, summary: dict[str, Any], walltime: float | None = None) -> None:
        """The summary's scores at the last step, and its verdict as tags."""
        from mlflow.entities import Metric, RunTag

        stamp = int((time.time() if walltime is None else walltime) * 1000)
        numbers = dict(scalars(summary))
        metrics = [Metric(k, numbers[k], stamp, self.step) for k in SUMMARY_SCALARS if k in numbers]
        tags = [
            RunTag(f"evo.{key}", str(summary[key]))
            for key in ("stop_reason", "solved")
            if key in summary
        ]
        self.client.log_batch(self.run_id, metrics=metrics, tags=tags)

    def artifacts(self, folder: Path) -> list[str]:
        """The run folder's files and a fitness plot; their names."""
        from evo.analysis.plot import plot_runs

        names = []
        for name in ARTIFACTS:
            if (folder / name).is_file():
                self.client.log_artifact(self.run_id, str(folder / name))
                names.append(name)
        with tempfile.TemporaryDirectory() as scratch:
            figure = plot_runs([folder], Path(scratch) / "fitness.png")
            self.client.log_artifact(self.run_id, str(figure))
        return [*names, "fitness.png"]

    def end(self, status: str, walltime: float | None = None) -> None:
        """Mark the run FINISHED, FAILED or KILLED."""
        end = int((time.time() if walltime is None else walltime) * 1000)
        self.client.set_terminated(self.run_id, status, end_time=end)


class MlflowLogger(Callback):
    """``logging.mlflow: true``: the MLflow run, logged as the evo run goes. A resumed run
    goes on in the MLflow run it started, without logging a generation twice."""

    def __init__(self, config: ExperimentConfig, run_dir: Path, resumed_after: int | None):
        self.folder = RunFolder.open(run_dir)
        record = RunRecord.read(run_dir)
        earlier = _logged_to(record) if resumed_after is not None else None
        self.logged_through = -1
        if earlier is not None:
            uri, run_id = earlier
            client = connect(uri, "logging.mlflow_tracking_uri")
            self.run = MlflowRun(client, run_id)
            client.update_run(run_id, status="RUNNING")
            history = client.get_metric_history(run_id, "generation")
            self.logged_through = max((int(m.step) for m in history), default=-1)
            self.run.step = max(self.logged_through, 0)
        else:
            uri = tracking_uri(config.logging.mlflow_tracking_uri)
            client = connect(uri, "logging.mlflow_tracking_uri")
            experiment = config.logging.mlflow_experiment or config.name
            self.run = MlflowRun.create(client, experiment, record, None)
            self.run.params(record.config)
            self.run.generations((line, None) for line in record.metrics)
            self.folder.append_event("mlflow", tracking_uri=uri, run_id=self.run.run_id)
        self.finished = False

    def on_generation(self, record: dict[str, Any]) -> None:
        """The line's metrics, at its generation's step."""
        if int(record["generation"]) > self.logged_through:
            self.run.generations([(record, None)])

    def on_stop(self, summary: dict[str, Any]) -> None:
        """The summary and the artifacts."""
        self.run.summary(summary)
        self.run.artifacts(self.folder.path)
        self.finished = True

    def on_close(self, error: BaseException | None) -> None:
        """End the MLflow run: finished, killed (interrupted) or failed."""
        if self.finished and error is None:
            status = "FINISHED"
        else:
            status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        self.run.end(status)


class MlflowFactory:
    """The ``logging.mlflow`` entry of the logger registry."""

    def check(self, config: ExperimentConfig) -> None:
        """mlflow must be installed, and the tracking store reachable."""
        require("mlflow", "logging.mlflow", "mlflow")
        connect(tracking_uri(config.logging.mlflow_tracking_uri), "logging.mlflow_tracking_uri")

    def open(self, config: ExperimentConfig, run_dir: Path, resumed_after: int | None) -> Callback:
        """The run's logger."""
        return MlflowLogger(config, run_dir, resumed_after)


def _logged_to(run: RunRecord) -> tuple[str, str] | None:
    """The tracking URI and MLflow run id the run's events name last, if any."""
    for event in reversed(run.events):
        if event.get("event") == "mlflow" and event.get("run_id"):
            return str(event["tracking_uri"]), str(event["run_id"])
    return None


def export_mlflow(
    run_dir: str | os.PathLike[str], uri: str | None = None, experiment: str | None = None
) -> str:
    """Log a run folder as a new MLflow run (its times the run's own); the line that says
    where. Refuses a run folder already logged to that experiment."""
    require("mlflow", "--mlflow", "mlflow")
    run = RunRecord.read(run_dir)
    if not run.metrics:
        raise RunFolderError(f"{run.path}: no generations recorded yet")
    uri = tracking_uri(uri)
    client = connect(uri, "--mlflow")
    experiment = experiment or str(run.config.get("name") or run.path.name)
    _refuse_twice(client, experiment, run.path)
    times = line_times(run)
    logged = MlflowRun.create(client, experiment, run, started_at(run))
    params = logged.params(run.config)
    count = logged.generations(zip(run.metrics, times, strict=True))
    if run.summary is not None:
        logged.summary(run.summary, times[-1])
    names = logged.artifacts(run.path)
    status = "FINISHED" if run.summary is not None else "KILLED"
    logged.end(status, times[-1])
    return (
        f"{uri}: MLflow run {logged.run_id} in experiment {experiment!r} ({status.lower()}): "
        f"{params} params, {count} generations, artifacts {', '.join(names)}"
    )


def _refuse_twice(client: Any, experiment: str, path: Path) -> None:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return
    quoted = str(path).replace("'", "\\'")
    runs = client.search_runs(
        [found.experiment_id], filter_string=f"tags.`{RUN_FOLDER_TAG}` = '{quoted}'", max_results=1
    )
    if runs:
        raise RunFolderError(
            f"{path}: already logged to MLflow experiment {experiment!r} as run "
            f"{runs[0].info.run_id} (delete that run, or pick another --mlflow-experiment)"
        )
