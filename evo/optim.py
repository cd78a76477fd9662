"""Optimizers on a flat float64 vector, shared by the ES strategies and gradient training.

Each is a pure function of (gradient, optimizer state): the state is a few arrays
and a step count that live in the caller's checkpointed state. The gradient is
that of a loss (minimised); an ES passes minus its fitness gradient.
"""

from __future__ import annotations

import math

import numpy as np

from evo.config import GradientConfig


def norm(vector: np.ndarray) -> float:
    """The Euclidean norm in float64, summed in an order fixed by the length alone.

    Neither BLAS (its threads and kernels split the sum by CPU and from call to call) nor
    ``np.sum`` (its vector loops can start differently with the array's alignment in
    memory, which a rerun does not keep): the squares are laid out in rows of
    ``_NORM_ROW`` and added row after row, each column on its own, then the column sums
    are added exactly (``math.fsum``). The metrics log is then the same bits on every
    rerun and every machine."""
    values = np.asarray(vector, dtype=np.float64).reshape(-1)
    squares = np.zeros(-(-values.size // _NORM_ROW) * _NORM_ROW, dtype=np.float64)
    np.multiply(values, values, out=squares[: values.size])
    columns = np.add.reduce(squares.reshape(-1, _NORM_ROW), axis=0)
    return math.sqrt(math.fsum(columns.tolist()))


_NORM_ROW = 512


def adam(
    gradient: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    step: int,
    *,
    learning_rate: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adam (Kingma & Ba 2015, Algorithm 1, with the bias corrections folded into the
    step size): returns (update, first moment, second moment); ``step`` counts the
    updates before this one."""
    t = step + 1
    first = beta1 * first + (1 - beta1) * gradient
    second = beta2 * second + (1 - beta2) * gradient * gradient
    rate = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return -rate * first / (np.sqrt(second) + epsilon), first, second


def sgd(
    gradient: np.ndarray, velocity: np.ndarray, *, learning_rate: float, momentum: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """SGD with momentum as PyTorch has it (``v = momentum * v + g``, ``x -= lr * v``):
    returns (update, velocity)."""
    velocity = momentum * velocity + gradient if momentum else gradient
    return -learning_rate * velocity, velocity


def clipup(
    gradient: np.ndarray,
    velocity: np.ndarray,
    *,
    step_size: float,
    momentum: float = 0.9,
    max_speed: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ClipUp (Toklu, Liskowski & Srivastava 2020, Algorithm 1): returns (update, velocity).

    The gradient is normalised to length ``step_size``, added to the decayed velocity, and
    the velocity clipped to length ``max_speed`` (default ``2 * step_size``, as EvoTorch).
    """
    max_speed = 2.0 * step_size if max_speed is None else max_speed
    length = norm(gradient)
    # Descent on the loss: the normalised step goes against the gradient.
    step = -step_size * gradient / length if length > 0 else np.zeros_like(gradient)
    velocity = momentum * velocity + step
    speed = norm(velocity)
    if speed > max_speed:  # clip the speed, keep the direction
        velocity = velocity * (max_speed / speed)
    return velocity, velocity


def optimizer_step(
    config: GradientConfig,
    params: np.ndarray,
    gradient: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    step: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One update of gradient training's optimizer; returns (params, first, second, update
    norm). SGD keeps its velocity in ``first``; Adam its moments in ``first`` and ``second``."""
    if config.weight_decay:
        gradient = gradient + config.weight_decay * params
    if config.optimizer == "sgd":
        update, first = sgd(
            gradient, first, learning_rate=config.learning_rate, momentum=config.momentum
        )
    else:
        update, first, second = adam(
            gradient,
            first,
            second,
            step,
            learning_rate=config.learning_rate,
            beta1=config.beta1,
            beta2=config.beta2,
            epsilon=config.epsilon,
        )
    return params + update, first, second, norm(update)
