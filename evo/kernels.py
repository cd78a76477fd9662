"""Arithmetic of the evaluation path that gives the same bits on every x86-64 CPU.

BLAS picks its matrix kernel by CPU model, numpy picks SIMD code for ``tanh``, ``exp``
and ``log`` by the CPU's features (and its vector body and scalar tail can round
differently), and glibc's libm picks FMA variants of ``exp``, ``log``, ``sin`` and more
by CPU. Each can change a result's last bit, and a generation's fitness with it. So
the policy's forward pass and the transcendental functions of the evaluation path are
computed here instead, from IEEE-754 additions, multiplications, divisions and exact
operations (``floor``, ``frexp``, scaling by powers of two) in a fixed order, which round the same
everywhere:

- :func:`dense`, one layer ``x @ W + b`` (and its activation) over a batch of members,
  accumulating each output in input order, whatever the CPU, the batch or the row (the
  policy's whole pass in one call, the same bits, is :mod:`evo.forward`);
- :func:`tanh` (float32 results correctly rounded in practice, through float64),
  :func:`exp` and :func:`log` (float64, fdlibm's algorithms, errors below 1 ulp).

The kernels are numba-compiled without ``fastmath``: LLVM then neither reassociates
nor contracts ``a * b + c`` into a fused multiply-add (which rounds once instead of
twice, and exists on some CPUs only). SIMD code LLVM makes from these loops computes
each element as the scalar code would, so the target CPU changes the speed only.
"""

from __future__ import annotations

import math

import numba
import numpy as np

ACTIVATIONS = {"identity": 0, "tanh": 1, "relu": 2}

# IEEE results for a division by zero (no Python exception checks, which would keep the
# loops from vectorising); the scalar functions are inlined into the loops that call them.
_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
_scalar = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")

# exp: fdlibm's e_exp.c (x = k ln2 + r, a rational approximation of r (e^r + 1)/(e^r - 1)).
_LN2_HI = 6.93147180369123816490e-01  # its trailing bits are zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_EXP_MAX = 7.09782712893383973096e02  # above: overflow
_EXP_MIN = -7.45133219101941108420e02  # below: underflow to 0
_POW2_BIAS = 1000
_POW2 = np.ldexp(1.0, np.arange(-_POW2_BIAS, _POW2_BIAS + 1))  # 2^n, exact

# log: fdlibm's e_log.c (x = 2^k (1 + f), log(1 + f) from s = f / (2 + f)).
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440

# tanh(x) rounds to 1 in float32 for |x| > 9.01 and in float64 for |x| > 19.1.
_TANH_SATURATED = 20.0


@_scalar
def exp_scalar(x: float) -> float:
    """e^x in float64 (fdlibm), the same bits on every CPU."""
    if x != x:
        return x
    if x > _EXP_MAX:
        return math.inf
    if x < _EXP_MIN:
        return 0.0
    k = math.floor(x * _INV_LN2 + 0.5)
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    z = r * r
    c = r - z * (_P1 + z * (_P2 + z * (_P3 + z * (_P4 + z * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    n = int(k)
    if n < -1000:  # a subnormal result: one rounding, in the last multiplication
        return (y * _POW2[n + 1000 + _POW2_BIAS]) * _POW2[-1000 + _POW2_BIAS]
    if n > 1000:
        return (y * _POW2[n - 1000 + _POW2_BIAS]) * _POW2[1000 + _POW2_BIAS]
    return y * _POW2[n + _POW2_BIAS]


@_scalar
def log_scalar(x: float) -> float:
    """The natural logarithm in float64 (fdlibm), the same bits on every CPU."""
    if x != x or x == math.inf:
        return x
    if x < 0.0:
        return math.nan
    if x == 0.0:
        return -math.inf
    m, e = math.frexp(x)  # exact: x = m 2^e, 0.5 <= m < 1
    if m < _SQRT_HALF:
        m *= 2.0
        e -= 1
    f = m - 1.0  # exact (Sterbenz): -0.29 < f < 0.42
    k = float(e)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    big_r = t2 + t1
    half_f_squared = 0.5 * f * f
    return k * _LN2_HI - ((half_f_squared - (s * (half_f_squared + big_r) + k * _LN2_LO)) - f)


@_scalar
def tanh_scalar(x: float) -> float:
    """tanh in float64, about 3e-15 relative: rounded to float32, the correctly rounded
    float32 tanh but for rare near-ties. Branch-free, so loops of it vectorise.

    tanh(a) = -m / (m + 2) with m = e^(-2a) - 1, and m comes from e^y - 1 of
    y = -2a / 32 (its Taylor series) doubled five times by e^(2y) - 1 = m (m + 2),
    which stays accurate relative to m (no cancellation near 0, unlike 1 - e^(-2a)).
    """
    a = abs(x)
    a = a if a < _TANH_SATURATED else _TANH_SATURATED  # also NaN, restored below
    y = a * -0.0625  # -2a / 32, exact
    m = 1.0 / 355687428096000.0  # Horner's rule over y^n / n!, n = 17 down to 1
    m = m * y + 1.0 / 20922789888000.0
    m = m * y + 1.0 / 1307674368000.0
    m = m * y + 1.0 / 87178291200.0
    m = m * y + 1.0 / 6227020800.0
    m = m * y + 1.0 / 479001600.0
    m = m * y + 1.0 / 39916800.0
    m = m * y + 1.0 / 3628800.0
    m = m * y + 1.0 / 362880.0
    m = m * y + 1.0 / 40320.0
    m = m * y + 1.0 / 5040.0
    m = m * y + 1.0 / 720.0
    m = m * y + 1.0 / 120.0
    m = m * y + 1.0 / 24.0
    m = m * y + 1.0 / 6.0
    m = m * y + 0.5
    m = m * y * y + y
    for _ in range(5):
        m = m * (m + 2.0)
    t = -m / (m + 2.0)
    return math.copysign(t, x) if x == x else x


@_kernel
def _tanh_kernel(values, out):
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = tanh_scalar(float(flat_in[i]))


# |x| <= _EXP_PLAIN: |k| <= 1000, e^x = y 2^k with 2^k a normal number built from its bits.
_EXP_PLAIN = 693.0


@_kernel
def _exp_kernel(values, out):
    """:func:`exp_scalar` of every element, in passes that vectorise: ``y`` and the bits of
    ``2^k`` (the same operations as the scalar's), their product, then the scalar itself
    for the rare elements outside ``[-_EXP_PLAIN, _EXP_PLAIN]`` (NaN, overflow, subnormal)."""
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    powers = np.empty(flat_in.size, dtype=np.int64)
    for i in range(flat_in.size):
        x = flat_in[i]
        x = x if x > -_EXP_PLAIN else -_EXP_PLAIN  # NaN too: fixed below
        x = x if x < _EXP_PLAIN else _EXP_PLAIN
        k = math.floor(x * _INV_LN2 + 0.5)
        hi = x - k * _LN2_HI
        lo = k * _LN2_LO
        r = hi - lo
        z = r * r
        c = r - z * (_P1 + z * (_P2 + z * (_P3 + z * (_P4 + z * _P5))))
        flat_out[i] = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
        powers[i] = (k + 1023) << 52  # 2^k, exactly _POW2[k + _POW2_BIAS]
    scale = powers.view(np.float64)
    for i in range(flat_in.size):
        flat_out[i] *= scale[i]
    for i in range(flat_in.size):
        x = flat_in[i]
        if not -_EXP_PLAIN <= x <= _EXP_PLAIN:
            flat_out[i] = exp_scalar(x)


@_kernel
def _log_kernel(values, out):
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = log_scalar(flat_in[i])


def tanh(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Elementwise tanh of a float32 or float64 array, in its dtype (into ``out`` if given,
    which may be ``values`` itself)."""
    values = np.asarray(values)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    source = np.ascontiguousarray(values)
    result = np.empty_like(source) if out is None or not out.flags.c_contiguous else out
    _tanh_kernel(source, result)
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def exp(values: np.ndarray) -> np.ndarray:
    """Elementwise e^x of an array, in float64."""
    source = np.ascontiguousarray(values, dtype=np.float64)
    result = np.empty_like(source)
    _exp_kernel(source, result)
    return result


def log(values: np.ndarray) -> np.ndarray:
    """Elementwise natural logarithm of an array, in float64."""
    source = np.ascontiguousarray(values, dtype=np.float64)
    result = np.empty_like(source)
    _log_kernel(source, result)
    return result


@_kernel
def _dense_by_row(x, params, weight_at, bias_at, fan_in, fan_out, out):
    """``out[m, r] = sum_k x[m or 0, r, k] * W_m[k] (+ b_m)``, summed k = 0, 1, ... in turn
    for every output; SIMD over the outputs ``j`` of a row (few rows, e.g. env steps)."""
    members, rows = out.shape[0], out.shape[1]
    shared = x.shape[0] == 1  # one block of inputs for every member
    total = np.empty(fan_out, dtype=out.dtype)
    for m in range(members):
        source = x[0] if shared else x[m]
        weight = params[m, weight_at : weight_at + fan_in * fan_out].reshape(fan_in, fan_out)
        for r in range(rows):
            total[:] = 0
            for k in range(fan_in):
                value, weight_row = source[r, k], weight[k]
                for j in range(fan_out):  # independent sums: each keeps its order in k
                    total[j] += value * weight_row[j]
            row = out[m, r]
            for j in range(fan_out):
                row[j] = total[j] + params[m, bias_at + j] if bias_at >= 0 else total[j]


@_kernel
def _dense_by_column(x_t, params, weight_at, bias_at, fan_in, fan_out, out):
    """The same sums as :func:`_dense_by_row`, in the same order for each output, with SIMD
    over the rows instead (many rows, e.g. a data set's minibatch); ``x_t`` is
    ``(members or 1, fan_in, rows)``."""
    members, rows = out.shape[0], out.shape[1]
    shared = x_t.shape[0] == 1
    total = np.empty(rows, dtype=out.dtype)
    for m in range(members):
        source = x_t[0] if shared else x_t[m]
        weight = params[m, weight_at : weight_at + fan_in * fan_out].reshape(fan_in, fan_out)
        for j in range(fan_out):
            total[:] = 0
            for k in range(fan_in):
                coefficient, column = weight[k, j], source[k]
                for r in range(rows):
                    total[r] += column[r] * coefficient
            if bias_at >= 0:
                bias = params[m, bias_at + j]
                for r in range(rows):
                    out[m, r, j] = total[r] + bias
            else:
                for r in range(rows):
                    out[m, r, j] = total[r]


@_kernel
def _activate(values, activation):
    _activate_flat(values.reshape(-1), activation)


@_scalar
def _activate_flat(flat, activation):
    if activation == 1:
        for i in range(flat.size):
            flat[i] = tanh_scalar(float(flat[i]))
    elif activation == 2:  # np.maximum(v, 0): a NaN passes, -0.0 stays
        for i in range(flat.size):
            v = flat[i]
            flat[i] = v if v >= 0 or v != v else 0


# Rows per member from which summing with SIMD over the rows beats SIMD over the outputs.
_MANY_ROWS = 16


def dense(
    x: np.ndarray,
    params: np.ndarray,
    weight_at: int,
    bias_at: int,
    fan_in: int,
    fan_out: int,
    activation: str = "identity",
) -> np.ndarray:
    """One layer for a batch of members: ``(members or 1, rows, fan_in)`` inputs times each
    member's weights (row-major ``(fan_in, fan_out)`` at ``params[:, weight_at:]``), plus its
    bias (at ``bias_at``; -1 for none), then the activation; ``(members, rows, fan_out)``
    in the parameters' dtype (float32 or float64)."""
    members = params.shape[0]
    if x.ndim != 3 or x.shape[0] not in (1, members) or x.shape[2] != fan_in:
        raise ValueError(f"expected inputs (members or 1, rows, {fan_in}), found {x.shape}")
    out = np.empty((members, x.shape[1], fan_out), dtype=params.dtype)
    params = np.ascontiguousarray(params)
    if x.shape[1] >= _MANY_ROWS:
        x_t = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=params.dtype)
        _dense_by_column(x_t, params, weight_at, bias_at, fan_in, fan_out, out)
    else:
        x = np.ascontiguousarray(x, dtype=params.dtype)
        _dense_by_row(x, params, weight_at, bias_at, fan_in, fan_out, out)
    if activation != "identity":
        _activate(out, ACTIVATIONS[activation])
    return out
