"""Recorded numbers of every shipped config: the first generations, run serially.

The refactors of the code must not change a run's numbers. ``test_recorded.py``
runs each config in ``evo/configs/`` for three generations (three rounds in gradient
mode) with the serial backend and compares every deterministic column of
``metrics.jsonl``, the summary's scores and the text of ``evo inspect`` with what
was recorded in ``recorded/``. A change that alters them on purpose is re-recorded,
and said in its commit message, with::

    python -m tests.e2e.recorded

Gradient mode's numbers go through BLAS and numpy's SIMD loops, whose last bits depend
on the CPU (an AVX-512 CPU takes other OpenBLAS kernels than an AVX2 one). Its configs
run, and were recorded, with one CPU profile that every x86-64 CPU with AVX2 follows:
OpenBLAS's Haswell kernels, numpy's dispatch off, libm's variants without FMA.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "evo" / "configs").glob("*.yaml"))
RECORDED = Path(__file__).with_name("recorded")
OVERRIDES = (
    "generations=3",
    "backend.kind=serial",
    "final_eval.episodes=5",
    "checkpoint.every=1",
)
# Columns that measure time or the cluster, not the run's numbers.
TIMING = frozenset(
    {
        "time_s",
        "write_s",
        "ask_s",
        "evaluate_s",
        "tell_s",
        "compute_s",
        "tasks",
        "workers",
        "bytes_sent",
        "bytes_received",
        "transfer_bytes",
        "retried",
        "longest_task_s",
        "training_time_s",
        "wall_time_s",
    }
)


def overrides(config: Path) -> list[str]:
    """The ``--set`` values of a recorded run: short, serial, every checkpoint kept."""
    settings = list(OVERRIDES)
    if gradient_mode(config):
        settings.append("gradient.epochs=null")  # three rounds, not whole epochs
    return settings


def gradient_mode(config: Path) -> bool:
    return "mode: gradient" in config.read_text()


def cpu_profile() -> dict[str, str]:
    """The environment of gradient mode's recorded runs: the same kernels on every x86-64
    CPU with AVX2 (numba's compiled code needs no pinning: it is the same bits anyway)."""
    from tests.test_portable import older_cpu_environment

    pinned = older_cpu_environment(Path("unused"))
    return {k: v for k, v in pinned.items() if not k.startswith("NUMBA_")}


def evo(*args: str, cwd: Path, pinned: bool = False) -> str:
    """Standard output of an ``evo`` command run as a user would (``pinned``: in
    :func:`cpu_profile`)."""
    env = {**(cpu_profile() if pinned else os.environ), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "evo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"evo {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def zero_timing(run: Path) -> None:
    """Timing columns of a run folder set to 0, so that what reads them prints the same."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for row in rows:
        row.update({key: 0 for key in TIMING & row.keys()})
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = json.loads((run / "summary.json").read_text())
    summary.update({key: 0 for key in TIMING & summary.keys()})
    (run / "summary.json").write_text(json.dumps(summary))
    for path in sorted((run / "lineage").glob("*.npz")):
        with np.load(path, allow_pickle=False) as loaded:
            arrays = dict(loaded)
        arrays["seconds"] = np.zeros_like(arrays["seconds"])
        np.savez(path, **arrays)


def shown(text: str, run: Path) -> str:
    """``evo inspect``'s text without what differs between two folders of the same run:
    the folder's path and the size of its files."""
    text = text.replace(str(run), "RUN")
    return re.sub(r", [0-9.]+ [kMG]?B$", ", SIZE", text, flags=re.MULTILINE)


def observe(config: Path, workdir: Path) -> dict[str, Any]:
    """What a recorded run of ``config`` shows: its metrics, its summary, ``evo inspect``."""
    sets = [arg for value in overrides(config) for arg in ("--set", value)]
    pinned = gradient_mode(config)
    out = evo(
        "run", str(config), *sets, "--runs-dir", "runs", "--quiet", cwd=workdir, pinned=pinned
    )
    run = workdir / out.strip().splitlines()[-1]
    metrics = [
        {k: v for k, v in json.loads(line).items() if k not in TIMING}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    summary = json.loads((run / "summary.json").read_text())
    zero_timing(run)
    inspect = {
        "table": shown(evo("inspect", str(run), cwd=workdir), run),
        "generation": shown(evo("inspect", str(run), "--generation", "1", cwd=workdir), run)
        if (run / "lineage").is_dir()
        else None,
    }
    return {
        "overrides": overrides(config),
        "metrics": metrics,
        "summary": {k: v for k, v in summary.items() if k not in TIMING},
        "inspect": inspect,
    }


def record() -> None:
    """Write ``recorded/<config>.json`` for every shipped config."""
    import tempfile

    RECORDED.mkdir(exist_ok=True)
    for config in CONFIGS:
        with tempfile.TemporaryDirectory() as workdir:
            seen = observe(config, Path(workdir))
        path = RECORDED / f"{config.stem}.json"
        path.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n")
        print(f"recorded {path.relative_to(ROOT)}")


if __name__ == "__main__":
    record()
