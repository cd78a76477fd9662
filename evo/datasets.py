"""Supervised data sets, built offline and the same bits every time, and how to score on them.

Two data sets, both made in-process (nothing is downloaded):

- ``spiral``: the CS231n spiral with four arms. For class ``k`` and ``r`` evenly
  spaced in [0, 1], the angle is ``k * 2π/4 + 4 r + N(0, 0.2²)`` radians and the
  point is ``(r sin θ, r cos θ)``. 11,000 points a class, from a fixed seed, split
  per class into 10,000 training and 1,000 test points (class-balanced), each
  split shuffled. A 2-64-4 ReLU net trained with SGD reaches ~95% test accuracy
  after one epoch and ~99% after twenty: learnable, not trivial.
- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images),
  pixels scaled to [0, 1], split by a fixed permutation into 1,437 training and
  360 test images.

Splits are cached per process (an LRU of whole splits), so a worker builds a data
set once; a cache, never a source of truth: a restarted worker rebuilds the same
bits. Arrays handed out are read-only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evo import kernels
from evo.errors import ConfigError
from evo.messages import suggest
from evo.seeding import MINIBATCH_STREAM

SPIRAL_SEED = 20_170_301  # fixed: the spiral is one data set, not one per run
SPIRAL_CLASSES = 4
SPIRAL_TRAIN_PER_CLASS = 10_000
SPIRAL_TEST_PER_CLASS = 1_000
SPIRAL_WINDING = 4.0  # radians of turn from the centre to the rim
SPIRAL_NOISE = 0.2  # standard deviation of the angle, radians

DIGITS_SEED = 8_201_797  # fixed permutation of the 1,797 images
DIGITS_TRAIN = 1_437

CACHED_SPLITS = 8  # whole splits kept per process


@dataclass(frozen=True)
class DatasetInfo:
    """Shape of a data set: features per example, classes, and the size of each split."""

    name: str
    features: int
    classes: int
    train_size: int
    test_size: int


DATASETS: dict[str, DatasetInfo] = {
    "spiral": DatasetInfo(
        "spiral",
        features=2,
        classes=SPIRAL_CLASSES,
        train_size=SPIRAL_CLASSES * SPIRAL_TRAIN_PER_CLASS,
        test_size=SPIRAL_CLASSES * SPIRAL_TEST_PER_CLASS,
    ),
    "digits": DatasetInfo(
        "digits", features=64, classes=10, train_size=DIGITS_TRAIN, test_size=1_797 - DIGITS_TRAIN
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    """Features, classes and split sizes of the data set ``name``."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        hint = suggest(name, list(DATASETS)) if isinstance(name, str) else ""
        raise ConfigError(
            f"expected a data set among {', '.join(map(repr, DATASETS))}, found {name!r}{hint}"
        ) from None


def load(
    name: str, split: Literal["train", "test"], lo: int = 0, hi: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[lo, hi)`` of a split: ``X`` float64 ``(n, features)``, ``y`` int64 ``(n,)``.

    Both are read-only, C-contiguous views of the cached split.
    """
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', found {split!r}")
    size = info.train_size if split == "train" else info.test_size
    hi = size if hi is None else hi
    if not 0 <= lo <= hi <= size:
        raise ValueError(f"rows [{lo}, {hi}): expected 0 <= lo <= hi <= {size} ({name} {split})")
    features, labels = _split(name, split)
    return features[lo:hi], labels[lo:hi]


def minibatch_indices(seed: int, generation: int, size: int, train_size: int) -> np.ndarray:
    """``size`` distinct training rows (int64, in draw order) for step ``generation`` of a run.

    Drawn from ``SeedSequence(seed, spawn_key=(MINIBATCH_STREAM, generation))`` (see
    :mod:`evo.seeding`), so every process that asks gets the same minibatch.
    """
    if not 1 <= size <= train_size:
        raise ValueError(f"minibatch size: expected 1..{train_size}, found {size}")
    sequence = np.random.SeedSequence(seed, spawn_key=(MINIBATCH_STREAM, generation))
    rng = np.random.Generator(np.random.PCG64(sequence))
    return rng.choice(train_size, size=size, replace=False).astype(np.int64, copy=False)


def classification_scores(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy per member, both float64 ``(members,)``.

    ``logits`` is ``(members, rows, classes)``, ``y`` the ``(rows,)`` true classes. The
    log-softmax subtracts each row's maximum, so large logits neither overflow nor
    lose the small ones; a member's numbers depend on its own logits only, and are the
    same bits on every CPU (:mod:`evo.kernels`' exp and log, not numpy's SIMD ones).
    """
    logits = np.asarray(logits)
    y = np.asarray(y, dtype=np.int64)
    if logits.ndim != 3 or y.shape != logits.shape[1:2]:
        raise ValueError(
            f"expected logits (members, rows, classes) and y (rows,), "
            f"found {logits.shape} and {y.shape}"
        )
    z = logits.astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    log_norm = kernels.log(kernels.exp(z - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(z, y[None, :, None], axis=-1)[..., 0]
    loss = (log_norm - picked).mean(axis=1)
    accuracy = (np.argmax(logits, axis=-1) == y).mean(axis=1)
    return loss, accuracy.astype(np.float64)


@functools.lru_cache(maxsize=CACHED_SPLITS)
def _split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One whole split, built and frozen (read-only) once per process."""
    train, test = _BUILDERS[name]()
    features, labels = train if split == "train" else test
    features = np.ascontiguousarray(features, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    info = DATASETS[name]
    assert features.shape == (len(labels), info.features), (name, features.shape)
    features.flags.writeable = False
    labels.flags.writeable = False
    return features, labels


Split = tuple[np.ndarray, np.ndarray]


def _spiral() -> tuple[Split, Split]:
    rng = np.random.Generator(np.random.PCG64(SPIRAL_SEED))
    per_class = SPIRAL_TRAIN_PER_CLASS + SPIRAL_TEST_PER_CLASS
    parts: dict[str, list[Split]] = {"train": [], "test": []}
    for k in range(SPIRAL_CLASSES):
        radius = np.linspace(0.0, 1.0, per_class)
        angle = (
            k * 2.0 * math.pi / SPIRAL_CLASSES
            + SPIRAL_WINDING * radius
            + SPIRAL_NOISE * rng.standard_normal(per_class)
        )
        points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
        order = rng.permutation(per_class)
        labels = np.full(per_class, k, dtype=np.int64)
        for split, rows in (
            ("train", order[:SPIRAL_TRAIN_PER_CLASS]),
            ("test", order[SPIRAL_TRAIN_PER_CLASS:]),
        ):
            parts[split].append((points[rows], labels[rows]))
    out = []
    for split in ("train", "test"):
        features = np.concatenate([p[0] for p in parts[split]])
        labels = np.concatenate([p[1] for p in parts[split]])
        shuffle = rng.permutation(len(labels))
        out.append((features[shuffle], labels[shuffle]))
    return out[0], out[1]


def _digits() -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    features = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.Generator(np.random.PCG64(DIGITS_SEED)).permutation(len(labels))
    train, test = order[:DIGITS_TRAIN], order[DIGITS_TRAIN:]
    return (features[train], labels[train]), (features[test], labels[test])


_BUILDERS = {"spiral": _spiral, "digits": _digits}
