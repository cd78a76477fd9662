"""Numba kernels of the noise table's weighted sums (see :mod:`evo.noise`, which calls them).

No fastmath: every coordinate's sum is a multiply then an add per member, in member order,
never fused into one rounding (the same bits on CPUs with and without FMA, and the same as
numpy's loop over the members); the loops are vectorised across coordinates only, which
leaves each coordinate's arithmetic as written.
"""

from __future__ import annotations

import numba
import numpy as np

# The kernels take the members four or eight at a time so that each coordinate's running
# sum is loaded and stored once per group, not once per member; within a group the
# additions stay in member order, ((s + w0 e0) + w1 e1) + ..., the same bits as one by one.


@numba.njit(cache=True, nogil=True)
def weighted_sum(
    values: np.ndarray, offsets: np.ndarray, weights: np.ndarray, num_params: int
) -> np.ndarray:
    """``sum_i weights[i] * values[offsets[i] : offsets[i] + num_params]``, float64."""
    out = np.zeros(num_params, dtype=np.float64)
    count, n = len(offsets), num_params
    m = 0
    while m + 8 <= count:
        w0, w1, w2, w3 = weights[m], weights[m + 1], weights[m + 2], weights[m + 3]
        w4, w5, w6, w7 = weights[m + 4], weights[m + 5], weights[m + 6], weights[m + 7]
        p0 = values[offsets[m] : offsets[m] + n]
        p1 = values[offsets[m + 1] : offsets[m + 1] + n]
        p2 = values[offsets[m + 2] : offsets[m + 2] + n]
        p3 = values[offsets[m + 3] : offsets[m + 3] + n]
        p4 = values[offsets[m + 4] : offsets[m + 4] + n]
        p5 = values[offsets[m + 5] : offsets[m + 5] + n]
        p6 = values[offsets[m + 6] : offsets[m + 6] + n]
        p7 = values[offsets[m + 7] : offsets[m + 7] + n]
        for k in range(n):
            total = out[k] + w0 * np.float64(p0[k])
            total = total + w1 * np.float64(p1[k])
            total = total + w2 * np.float64(p2[k])
            total = total + w3 * np.float64(p3[k])
            total = total + w4 * np.float64(p4[k])
            total = total + w5 * np.float64(p5[k])
            total = total + w6 * np.float64(p6[k])
            out[k] = total + w7 * np.float64(p7[k])
        m += 8
    for rest in range(m, count):
        weight = weights[rest]
        piece = values[offsets[rest] : offsets[rest] + n]
        for k in range(n):
            out[k] += weight * np.float64(piece[k])
    return out


@numba.njit(cache=True, nogil=True)
def moments(
    values: np.ndarray,
    offsets: np.ndarray,
    mean_weights: np.ndarray,
    square_weights: np.ndarray,
    num_params: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sum_i a_i eps_i, sum_i b_i (eps_i^2 - 1))``, eps_i the slice at ``offsets[i]``."""
    first = np.zeros(num_params, dtype=np.float64)
    second = np.zeros(num_params, dtype=np.float64)
    a, b = mean_weights, square_weights
    count, n = len(offsets), num_params
    m = 0
    while m + 4 <= count:
        a0, a1, a2, a3 = a[m], a[m + 1], a[m + 2], a[m + 3]
        b0, b1, b2, b3 = b[m], b[m + 1], b[m + 2], b[m + 3]
        p0 = values[offsets[m] : offsets[m] + n]
        p1 = values[offsets[m + 1] : offsets[m + 1] + n]
        p2 = values[offsets[m + 2] : offsets[m + 2] + n]
        p3 = values[offsets[m + 3] : offsets[m + 3] + n]
        for k in range(n):
            e0, e1 = np.float64(p0[k]), np.float64(p1[k])
            e2, e3 = np.float64(p2[k]), np.float64(p3[k])
            mean = first[k] + a0 * e0
            mean = mean + a1 * e1
            mean = mean + a2 * e2
            first[k] = mean + a3 * e3
            square = second[k] + b0 * (e0 * e0 - 1.0)
            square = square + b1 * (e1 * e1 - 1.0)
            square = square + b2 * (e2 * e2 - 1.0)
            second[k] = square + b3 * (e3 * e3 - 1.0)
        m += 4
    for rest in range(m, count):
        am, bm = a[rest], b[rest]
        piece = values[offsets[rest] : offsets[rest] + n]
        for k in range(n):
            eps = np.float64(piece[k])
            first[k] += am * eps
            second[k] += bm * (eps * eps - 1.0)
    return first, second
