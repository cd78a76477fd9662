"""``evo export``: a run's logs (metrics, events, lineage) as CSV, one member's parameters,
or the whole run as TensorBoard event files or an MLflow run."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evo.errors import ConfigError, RunFolderError
from evo.runlog import CHECKPOINTS, CONFIG, METRICS, RunFolder, RunRecord, atomic_write_text

PathLike = str | os.PathLike[str]


def export_run(
    run_dir: PathLike,
    *,
    metrics_csv: PathLike | None = None,
    events_csv: PathLike | None = None,
    lineage_csv: PathLike | None = None,
    member: str | None = None,
    out: PathLike | None = None,
    tensorboard: PathLike | None = None,
    mlflow: str | None = None,
    mlflow_experiment: str | None = None,
    report: Callable[[str], None] = print,
) -> None:
    """Write what is asked for, each file whole, and ``report`` a line per file written.

    ``member`` is ``GEN:ID`` (generation from 1): that member is rebuilt exactly from the
    run's lineage and checkpoints and written to ``out`` as ``.npz``, laid out like
    ``best.npz`` (``evo replay --params`` drives it). ``tensorboard`` is a folder that gets
    the run's event files under the run folder's name; ``mlflow`` a tracking URI ("" for
    the default) that gets a new MLflow run. Every argument is checked, and every
    destination folder, before the first file is written.
    """
    wanted = (metrics_csv, events_csv, lineage_csv, member, tensorboard)
    if not any(wanted) and mlflow is None:
        raise ConfigError(
            "expected --csv, --events-csv, --lineage-csv, --member GEN:ID, --tensorboard DIR "
            "or --mlflow"
        )
    if (member is None) != (out is None):
        raise ConfigError("--member GEN:ID and -o FILE.npz go together")
    if mlflow_experiment is not None and mlflow is None:
        raise ConfigError("--mlflow-experiment goes with --mlflow")
    run = RunRecord.read(run_dir)
    folder, chosen = run.folder, None
    if member is not None:
        from evo.lineage import check_member, parse_member

        chosen = parse_member(member)
        check_member(folder, *chosen)
    targets: list[tuple[PathLike, Callable[[], Sequence[dict[str, Any]]]]] = []
    if metrics_csv:
        targets.append((metrics_csv, lambda: run.metrics))
    if events_csv:
        targets.append((events_csv, lambda: run.events))
    if lineage_csv:
        from evo.lineage import recorded_generations, rows

        recorded_generations(folder)  # a run without lineage: one line, before any file
        targets.append((lineage_csv, lambda: list(rows(folder))))
    for path in [t[0] for t in targets] + ([out] if chosen else []):
        if not Path(path).parent.is_dir():
            raise RunFolderError(f"{path}: the folder {Path(path).parent} does not exist")
        refuse_run_folder(Path(path))
    if tensorboard:
        refuse_run_folder(Path(tensorboard))
    _check_loggers(run, tensorboard, mlflow)
    for path, read in targets:
        text = io.StringIO(newline="")
        count = write_csv(read(), text)
        atomic_write_text(Path(path), text.getvalue())  # whole, once it is all there
        report(f"{path}: {count} rows")
    if chosen is not None:
        assert out is not None
        report(_write_member(folder, chosen, Path(out)))
    if tensorboard:
        from evo.loggers import export_tensorboard

        report(export_tensorboard(run.path, tensorboard))
    if mlflow is not None:
        from evo.loggers import export_mlflow

        report(export_mlflow(run.path, mlflow or None, mlflow_experiment))


def refuse_run_folder(path: Path) -> None:
    """A :class:`RunFolderError` if ``path`` is in a run folder (or is one): exports go
    outside run folders, which only their run writes."""
    for where in (path, *path.absolute().parents):
        if (where / CONFIG).is_file() and (
            (where / METRICS).is_file() or (where / CHECKPOINTS).is_dir()
        ):
            raise RunFolderError(
                f"{path}: inside the run folder {where}; exports go outside run folders"
            )


def _check_loggers(run: RunRecord, tensorboard: PathLike | None, mlflow: str | None) -> None:
    """What --tensorboard and --mlflow need, checked before any file is written."""
    from evo.loggers.common import require

    if (tensorboard or mlflow is not None) and not run.metrics:
        raise RunFolderError(f"{run.path}: no generations recorded yet")
    if tensorboard:
        from evo.loggers.tensorboard import check_logdir

        require("tensorboardX", "--tensorboard", "tensorboard")
        check_logdir(tensorboard, run.path.name)
    if mlflow is not None:
        from evo.loggers.mlflow import connect, tracking_uri

        require("mlflow", "--mlflow", "mlflow")
        connect(tracking_uri(mlflow or None), "--mlflow")


def _write_member(folder: RunFolder, member: tuple[int, int], out: Path) -> str:
    """Rebuild ``member`` (generation from 1, index) into ``out``; the line that says so."""
    from evo.lineage import member_arrays, rebuild_member
    from evo.runlog import atomic_write_bytes, npz_bytes

    rebuilt = rebuild_member(folder, *member)
    atomic_write_bytes(out, npz_bytes(member_arrays(rebuilt)))
    start = (
        "the initial parameters"
        if rebuilt.checkpoint is None
        else f"the checkpoint after generation {rebuilt.checkpoint}"
    )
    return (
        f"{out}: member {rebuilt.generation}:{rebuilt.member} "
        f"(fitness {rebuilt.fitness:.4g}), {rebuilt.params.size} parameters, rebuilt from "
        f"{start}, {rebuilt.replayed} generation{'s' * (rebuilt.replayed != 1)} replayed"
    )


def write_csv(rows: Sequence[dict[str, Any]], out: Any) -> int:
    """Rows of JSON objects as CSV: every key that appears, in order of first appearance;
    a missing value is an empty cell. Returns the number of rows written."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return len(rows)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value
