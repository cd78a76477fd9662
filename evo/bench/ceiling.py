"""What the machines allow at best: the same work on every worker at once against it alone."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from distributed import Client


def _burn(rounds: int) -> float:
    """Fixed CPU-bound work (small matrix products, as a policy's forward pass does)."""
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(rounds):
        x = np.tanh(x @ x.T * np.float32(0.01))
    return time.perf_counter() - start


def hardware_ceiling(client: Client, rounds: int = 4000, repeats: int = 3) -> float:
    """The speedup the cluster's machines allow at best: the same CPU-bound task on every
    worker thread at once, against that task alone on one (median of ``repeats``).

    On shared or hyper-threaded cores, parallel work runs slower per core; no scheduler
    can beat this figure.
    """
    info = client.scheduler_info(n_workers=-1)["workers"]
    slots = [a for a, w in sorted(info.items()) for _ in range(w.get("nthreads", 1))]
    ratios = []
    for _ in range(repeats):
        alone = client.submit(_burn, rounds, pure=False, workers=slots[:1]).result()
        together = client.gather(
            [client.submit(_burn, rounds, pure=False, workers=[a]) for a in slots]
        )
        ratios.append(len(slots) * alone / max(together))
    return statistics.median(ratios)


def _task_ceiling(client, trainer, state, repeats: int = 3) -> float:
    """The 2-vs-1-worker speedup a gradient round's own work allows: the first half of
    the shards alone on one worker, against both halves at once on two (median)."""
    from evo.methods.gradient.trainer import ShardWork

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])[:2]
    half = trainer.config.shards // 2
    halves = [ShardWork(0, half, state.generation), ShardWork(half, 2 * half, state.generation)]
    ratios = []
    for _ in range(repeats):
        args = (trainer.task, trainer.problem, state.params)
        alone = client.submit(*args, halves[0], pure=False, workers=workers[:1]).result()
        together = client.gather(
            [
                client.submit(*args, work, pure=False, workers=[worker])
                for work, worker in zip(halves, workers, strict=True)
            ]
        )
        ratios.append(2 * alone.seconds / max(r.seconds for r in together))
    return statistics.median(ratios)
