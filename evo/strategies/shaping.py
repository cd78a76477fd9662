"""Fitness shaping: how a generation's returns become the weights of an ES update.

Each shaping is a pure function of the fitness vector, in member order. A failed
evaluation (NaN, or the -inf that :meth:`Strategy.tell` makes of it) can never
outweigh a real one: centered ranks put it last; z-score and raw give it the
worst successful fitness (and every member 0 when nothing succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

FitnessShaping = Literal["centered_ranks", "z_score", "raw"]


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al. (2017): ranks scaled to [-0.5, 0.5].

    Ties are broken by member index, so the result is deterministic; NaN ranks lowest.
    """
    fitness = np.asarray(fitness, dtype=np.float64)
    n = len(fitness)
    ranks = np.empty(n, dtype=np.float64)
    order = np.argsort(np.where(np.isnan(fitness), -np.inf, fitness), kind="stable")
    ranks[order] = np.arange(n, dtype=np.float64)
    return ranks / max(n - 1, 1) - 0.5 if n > 1 else np.zeros(1)


def z_score(fitness: np.ndarray) -> np.ndarray:
    """Standardised fitness ``(f - mean) / std`` (all 0 when every value is the same)."""
    values = _with_failures_worst(fitness)
    centred = values - values.mean()
    spread = float(np.sqrt(np.mean(centred * centred)))  # numpy's pairwise sum, not BLAS
    return centred / spread if spread > 0 else np.zeros_like(centred)


def raw(fitness: np.ndarray) -> np.ndarray:
    """The fitness itself (as ARS uses the returns, scaled later by their spread)."""
    return _with_failures_worst(fitness)


def _with_failures_worst(fitness: np.ndarray) -> np.ndarray:
    """Float64 fitness with every failed value (NaN or -inf) set to the worst successful
    one; all zeros when no member succeeded."""
    values = np.array(fitness, dtype=np.float64)
    failed = np.isnan(values) | (values == -np.inf)
    if failed.all():
        return np.zeros_like(values)
    values[failed] = values[~failed].min()
    return values


SHAPINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "centered_ranks": centered_ranks,
    "z_score": z_score,
    "raw": raw,
}


def shape(name: str, fitness: np.ndarray) -> np.ndarray:
    """The fitness shaped by the shaping called ``name`` (a key of :data:`SHAPINGS`)."""
    return SHAPINGS[name](fitness)


def top_directions(plus: np.ndarray, minus: np.ndarray, count: int | None) -> np.ndarray:
    """Indices, in increasing order, of the ``count`` directions whose better side,
    ``max(r+, r-)``, is highest (ARS, Mania et al. 2018, Algorithm 1 line 6: "sort the
    directions by max{r(pi_{j,k,+}), r(pi_{j,k,-})}"); all of them for None.

    Ties are broken by direction index (the lower one kept); a failed side (NaN) is -inf.
    """
    plus, minus = np.asarray(plus, dtype=np.float64), np.asarray(minus, dtype=np.float64)
    if count is None or count >= len(plus):
        return np.arange(len(plus))
    better = np.fmax(plus, minus)  # fmax: a NaN side yields to the other side
    better = np.where(np.isnan(better), -np.inf, better)
    # A stable sort of -better keeps the lower index first among equals.
    chosen = np.argsort(-better, kind="stable")[:count]
    return np.sort(chosen)
