"""Optimizers on a flat float64 parameter vector: SGD with momentum, and Adam.

The state is a few arrays and a step count, kept in the trainer's checkpointed
state; an update is a pure function of (parameters, state, gradient).
"""

from __future__ import annotations

import numpy as np

from evo.config import GradientConfig


def optimizer_step(
    config: GradientConfig,
    params: np.ndarray,
    gradient: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    step: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One update; returns (params, first, second, update norm).

    ``gradient`` is the mean gradient of the loss (minimised). SGD keeps its
    velocity in ``first`` (``v = momentum * v + g``, ``params -= lr * v``, as
    PyTorch does); Adam its moments in ``first`` and ``second``, ``step`` being
    the number of updates before this one.
    """
    if config.weight_decay:
        gradient = gradient + config.weight_decay * params
    if config.optimizer == "sgd":
        first = config.momentum * first + gradient if config.momentum else gradient
        update = -config.learning_rate * first
    else:
        t = step + 1
        first = config.beta1 * first + (1 - config.beta1) * gradient
        second = config.beta2 * second + (1 - config.beta2) * gradient * gradient
        rate = config.learning_rate * np.sqrt(1 - config.beta2**t) / (1 - config.beta1**t)
        update = -rate * first / (np.sqrt(second) + config.epsilon)
    return params + update, first, second, float(np.linalg.norm(update))
