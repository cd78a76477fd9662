"""Numba kernels of the noise table's weighted sums (see :mod:`evo.noise`, which calls them).

No fastmath: every coordinate's sum is a multiply then an add per member, in member order,
never fused into one rounding (the same bits on CPUs with and without FMA, and the same as
numpy's loop over the members); the loops are vectorised across coordinates only, which
leaves each coordinate's arithmetic as written.
"""

from __future__ import annotations

import numba
import numpy as np

# The kernels take the members eight at a time so that each coordinate's running
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
    while m + 8 <= count:
        a0, a1, a2, a3 = a[m], a[m + 1], a[m + 2], a[m + 3]
        a4, a5, a6, a7 = a[m + 4], a[m + 5], a[m + 6], a[m + 7]
        b0, b1, b2, b3 = b[m], b[m + 1], b[m + 2], b[m + 3]
        b4, b5, b6, b7 = b[m + 4], b[m + 5], b[m + 6], b[m + 7]
        p0 = values[offsets[m] : offsets[m] + n]
        p1 = values[offsets[m + 1] : offsets[m + 1] + n]
        p2 = values[offsets[m + 2] : offsets[m + 2] + n]
        p3 = values[offsets[m + 3] : offsets[m + 3] + n]
        p4 = values[offsets[m + 4] : offsets[m + 4] + n]
        p5 = values[offsets[m + 5] : offsets[m + 5] + n]
        p6 = values[offsets[m + 6] : offsets[m + 6] + n]
        p7 = values[offsets[m + 7] : offsets[m + 7] + n]
        for k in range(n):
            e0, e1 = np.float64(p0[k]), np.float64(p1[k])
            e2, e3 = np.float64(p2[k]), np.float64(p3[k])
            e4, e5 = np.float64(p4[k]), np.float64(p5[k])
            e6, e7 = np.float64(p6[k]), np.float64(p7[k])
            mean = first[k] + a0 * e0
            mean = mean + a1 * e1
            mean = mean + a2 * e2
            mean = mean + a3 * e3
            mean = mean + a4 * e4
            mean = mean + a5 * e5
            mean = mean + a6 * e6
            first[k] = mean + a7 * e7
            square = second[k] + b0 * (e0 * e0 - 1.0)
            square = square + b1 * (e1 * e1 - 1.0)
            square = square + b2 * (e2 * e2 - 1.0)
            square = square + b3 * (e3 * e3 - 1.0)
            square = square + b4 * (e4 * e4 - 1.0)
            square = square + b5 * (e5 * e5 - 1.0)
            square = square + b6 * (e6 * e6 - 1.0)
            second[k] = square + b7 * (e7 * e7 - 1.0)
        m += 8
    for rest in range(m, count):
        am, bm = a[rest], b[rest]
        piece = values[offsets[rest] : offsets[rest] + n]
        for k in range(n):
            eps = np.float64(piece[k])
            first[k] += am * eps
            second[k] += bm * (eps * eps - 1.0)
    return first, second


@numba.njit(cache=True, nogil=True)
def perturbed_rows(
    bases: np.ndarray,
    base_index: np.ndarray,
    spread: np.ndarray,
    values: np.ndarray,
    offsets: np.ndarray,
    coefficients: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[r] = bases[base_index[r]] + coefficients[r] * (spread[base] *) values[offsets[r]:
    ...]`` in float32, each element a multiply (two with a spread) then an add, as numpy's
    ``out[r] += c * v`` rounds them; a row with coefficient 0 is its base (``spread`` of
    shape ``(0, 0)``: none)."""
    n = out.shape[1]
    scaled = spread.shape[0] > 0
    for r in range(out.shape[0]):
        base = bases[base_index[r]]
        row = out[r]
        c = coefficients[r]
        if c == 0:
            for k in range(n):
                row[k] = base[k]
            continue
        piece = values[offsets[r] : offsets[r] + n]
        if scaled:
            width = spread[base_index[r]]
            for k in range(n):
                row[k] = base[k] + c * (width[k] * piece[k])
        else:
            for k in range(n):
                row[k] = base[k] + c * piece[k]
