"""Output heads: a loss on the MLP's outputs and its gradient with respect to them.

Each head returns the loss *summed* over rows (each row weighted, if weights are
given) and ``d_outputs``, the gradient of that sum: data-parallel workers return
sums and the orchestrator divides by the total count once, so the result does
not depend on how the rows were split.

- ``softmax_cross_entropy``: classification (labels), and the log-likelihood of
  sampled discrete actions in policy gradient (weights = advantages).
- ``gaussian_nll``: the log-likelihood of sampled continuous actions under
  N(outputs, exp(log_std)^2).
- ``squared_error``: regression, e.g. a value baseline.
"""

from __future__ import annotations

import math

import numpy as np

HEADS = ("softmax_cross_entropy", "gaussian_nll", "squared_error")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, computed stably (the row maximum subtracted first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Sum over rows of ``-weight * log softmax(logits)[label]`` and its gradient."""
    log_probs = log_softmax(logits)
    rows = np.arange(len(labels))
    losses = -log_probs[rows, labels]
    d_logits = np.exp(log_probs)
    d_logits[rows, labels] -= 1.0
    if weights is not None:
        losses = losses * weights
        d_logits *= weights[:, None]
    return float(losses.sum()), d_logits


def gaussian_nll(
    means: np.ndarray, actions: np.ndarray, log_std: float, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Sum over rows of ``-weight * log N(action; mean, exp(log_std)^2)`` and its gradient."""
    variance = math.exp(2.0 * log_std)
    diff = actions - means
    per_row = 0.5 * (diff * diff).sum(axis=-1) / variance
    per_row = per_row + means.shape[-1] * (log_std + 0.5 * math.log(2.0 * math.pi))
    d_means = -diff / variance
    if weights is not None:
        per_row = per_row * weights
        d_means *= weights[:, None]
    return float(per_row.sum()), d_means


def squared_error(
    outputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Sum over rows of ``weight * 0.5 * |output - target|^2`` and its gradient."""
    diff = outputs - targets.reshape(outputs.shape)
    per_row = 0.5 * (diff * diff).sum(axis=-1)
    if weights is not None:
        per_row = per_row * weights
        diff = diff * weights[:, None]
    return float(per_row.sum()), diff
