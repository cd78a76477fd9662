"""The shared noise table: one float32 array of standard normals that every member's
perturbation is a slice of (as in the code of Salimans et al. 2017 and Mania et al. 2018).

A member record names an offset into the table; its unit noise is ``table[offset :
offset + num_params]``. The table is a pure function of its :class:`NoiseTable`
descriptor (PCG64 from the descriptor's seed, numpy's float32 standard normals), so
the orchestrator and every worker build the same bits; each process builds it once and
keeps it in this module (a worker-side speed-up, never a source of truth).

The weighted sums an ES update needs, ``sum_i w_i eps_i`` and ``sum_i b_i (eps_i^2 -
1)``, are sums in member order with float64 accumulators: each coordinate is a fixed
sequence of a multiply and an add, never fused or reordered, so the result is the same
bits on every CPU. Small sums are numpy loops over the members; large ones the numba
kernels of :mod:`evo.noise_sums` (imported on first use: workers never need them),
which compute the same bits. No BLAS is involved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

# The table's seed: fixed, so that every run (of any seed or config) indexes the same
# table and a process running several runs (a sweep, the tests) builds it once.
TABLE_SEED = 0x5EED_7AB1E
NUMPY_SUM_LIMIT = 2**20  # members x parameters up to which a numpy loop sums (no numba import)
MIN_TABLE_SIZE = 2**22  # 16 MiB of float32: below it, building costs more than it saves
MAX_DEFAULT_SIZE = 2**28  # 1 GiB: the default never grows past this (ARS used 250M floats)
PARAMS_PER_TABLE = 1024  # the default holds 1024 disjoint perturbations


@dataclass(frozen=True)
class NoiseTable:
    """Which table the records of a population index: its seed and its length in floats."""

    size: int
    seed: int = TABLE_SEED

    def max_offset(self, num_params: int) -> int:
        """The largest offset whose slice of ``num_params`` fits in the table."""
        return self.size - num_params

    def as_array(self) -> np.ndarray:
        """``[seed, size]`` as int64, for checkpoints and the lineage."""
        return np.array([self.seed, self.size], dtype=np.int64)

    @classmethod
    def from_array(cls, array: np.ndarray) -> NoiseTable:
        """Inverse of :meth:`as_array`."""
        seed, size = (int(v) for v in np.asarray(array).ravel())
        return cls(size=size, seed=seed)


def default_size(num_params: int) -> int:
    """The table's length when the config leaves it null: room for 1024 disjoint
    perturbations of ``num_params``, at least 2**22 floats (16 MiB, built in a few tens of
    milliseconds) and at most 2**28 (1 GiB) unless the parameters need more.

    Slices at different offsets are uncorrelated (shifted sequences of independent
    normals); a table much longer than a generation's population times its parameters
    also keeps the members of one generation mostly on distinct numbers.
    """
    wanted = min(MAX_DEFAULT_SIZE, PARAMS_PER_TABLE * num_params)
    return max(MIN_TABLE_SIZE, wanted, 2 * num_params)


_lock = threading.Lock()
_cached: tuple[NoiseTable, np.ndarray] | None = None  # the most recent table: one per process


def table(spec: NoiseTable) -> np.ndarray:
    """The table ``spec`` describes, built on first use in this process and kept (read-only)."""
    global _cached
    with _lock:
        if _cached is None or _cached[0] != spec:
            _cached = None  # release the old table before building a new one
            values = np.random.Generator(np.random.PCG64(spec.seed)).standard_normal(
                spec.size, dtype=np.float32
            )
            values.setflags(write=False)
            _cached = (spec, values)
        return _cached[1]


def build_soon(spec: NoiseTable) -> None:
    """Start building ``spec``'s table on a thread of its own: numpy fills it without
    the GIL, beside whatever this process does next (numba's first load, say); the first
    :func:`table` call finds it ready or waits for the rest."""
    with _lock:
        if _cached is not None and _cached[0] == spec:
            return
    threading.Thread(target=table, args=(spec,), name="evo-noise-table", daemon=True).start()


def draw_offsets(
    rng: np.random.Generator, count: int, spec: NoiseTable, num_params: int
) -> np.ndarray:
    """``count`` offsets (int64), uniform over every slice of ``num_params`` in the table."""
    return rng.integers(0, spec.max_offset(num_params) + 1, size=count, dtype=np.int64)


def noise(spec: NoiseTable, offset: int, num_params: int) -> np.ndarray:
    """The unit noise at ``offset``: a read-only float32 view into the table."""
    return table(spec)[int(offset) : int(offset) + num_params]


def _checked(spec: NoiseTable, offsets: np.ndarray, num_params: int) -> np.ndarray:
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if len(offsets) and (offsets.min() < 0 or offsets.max() > spec.max_offset(num_params)):
        raise ValueError(f"noise offsets outside the table of {spec.size} floats")
    return offsets


def weighted_sum(
    spec: NoiseTable, offsets: np.ndarray, weights: np.ndarray, num_params: int
) -> np.ndarray:
    """``sum_i weights[i] * noise(offsets[i])`` in float64, in member order (a zero weight
    adds nothing)."""
    offsets = _checked(spec, offsets, num_params)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    assert weights.shape == offsets.shape, "one weight an offset"
    # A zero weight would add a zero to every coordinate (no change to a sum that starts
    # at +0), so leaving it out is exact and saves its pass.
    used = weights != 0.0
    offsets, weights, values = offsets[used], weights[used], table(spec)
    if len(offsets) * num_params > NUMPY_SUM_LIMIT:
        from evo.noise_sums import weighted_sum as kernel

        return kernel(values, offsets, weights, num_params)
    out = np.zeros(num_params, dtype=np.float64)
    for weight, start in zip(weights.tolist(), offsets.tolist(), strict=True):
        out += weight * values[start : start + num_params].astype(np.float64)
    return out


def moments(
    spec: NoiseTable,
    offsets: np.ndarray,
    mean_weights: np.ndarray,
    square_weights: np.ndarray,
    num_params: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sum_i a_i eps_i, sum_i b_i (eps_i^2 - 1))`` over the noise at each offset, in
    member order, in float64: the search gradients of a diagonal Gaussian's mean and
    deviation."""
    offsets = _checked(spec, offsets, num_params)
    a = np.ascontiguousarray(mean_weights, dtype=np.float64)
    b = np.ascontiguousarray(square_weights, dtype=np.float64)
    assert a.shape == b.shape == offsets.shape, "one pair of weights an offset"
    values = table(spec)
    if len(offsets) * num_params > NUMPY_SUM_LIMIT:
        from evo.noise_sums import moments as kernel

        return kernel(values, offsets, a, b, num_params)
    first = np.zeros(num_params, dtype=np.float64)
    second = np.zeros(num_params, dtype=np.float64)
    for mean_weight, square_weight, start in zip(a, b, offsets.tolist(), strict=True):
        eps = values[start : start + num_params].astype(np.float64)
        first += mean_weight * eps
        second += square_weight * (eps * eps - 1.0)
    return first, second
