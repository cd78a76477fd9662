"""sin, cos, tan and atan2 that give the same bits on every x86-64 CPU.

glibc's libm (which numba's ``np.sin`` and numpy's float64 ``sin`` call) picks FMA
variants by CPU, and numpy's SIMD ``tan``/``arctan2`` depend on the CPU's features:
either can change a car's trajectory in the last bit. These are fdlibm's algorithms
(as in musl) from IEEE additions, multiplications and divisions only, numba-compiled
without ``fastmath`` (so LLVM contracts nothing into fused multiply-adds); errors are
below 1 ulp (``tan``, computed as sin / cos, below 2).

The argument reduction subtracts ``n pi/2`` with pi/2 in four pieces, the first
three of 33 bits, so ``n * piece`` is exact for ``|n| < 2^20``: exact enough for
``|x| < 2^19 pi/2`` (about 823,000 rad), far beyond any heading or track angle.
Larger arguments give NaN.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
_scalar = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")

_INV_PIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e00  # first 33 bits of pi/2
_PIO2_2 = 6.07710050630396597660e-11  # second 33 bits
_PIO2_2T = 2.02226624879595063154e-21
_PIO2_3 = 2.02226624871116645580e-21  # third 33 bits
_PIO2_3T = 8.47842766036889956997e-32
_REDUCIBLE = 823549.6  # 2^19 pi/2

_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11

_ATAN_HI = (4.63647609000806093515e-01, 7.85398163397448278999e-01,
            9.82793723247329054082e-01, 1.57079632679489655800e00)  # fmt: skip
_ATAN_LO = (2.26987774529616870924e-17, 3.06161699786838301793e-17,
            1.39033110312309984516e-17, 6.12323399573676603587e-17)  # fmt: skip
_AT0, _AT1, _AT2 = (
    3.33333333333329318027e-01,
    -1.99999999998764832476e-01,
    1.42857142725034663711e-01,
)
_AT3, _AT4, _AT5 = (
    -1.11111104054623557880e-01,
    9.09088713343650656196e-02,
    -7.69187620504482999495e-02,
)
_AT6, _AT7, _AT8 = (
    6.66107313738753120669e-02,
    -5.83357013379057348645e-02,
    4.97687799461593236017e-02,
)
_AT9, _AT10 = -3.65315727442169155270e-02, 1.62858201153657823623e-02
_PI = 3.14159265358979311600e00
_PI_LO = 1.22464679914735317720e-16  # pi - _PI


@_scalar
def _kernel_sin(x, y):
    """sin(x + y) for |x| <= pi/4, y the tail of x."""
    z = x * x
    w = z * z
    r = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
    v = z * x
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


@_scalar
def _kernel_cos(x, y):
    """cos(x + y) for |x| <= pi/4, y the tail of x."""
    z = x * x
    w = z * z
    r = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    half_z = 0.5 * z
    w = 1.0 - half_z
    return w + (((1.0 - w) - half_z) + (z * r - x * y))


@_scalar
def _reduce(x):
    """(quadrant, head, tail): x = quadrant pi/2 + head + tail, |head| <= pi/4 (about)."""
    n = math.floor(x * _INV_PIO2 + 0.5)
    r = x - n * _PIO2_1  # exact
    t = r
    w = n * _PIO2_2
    r = t - w
    w = n * _PIO2_2T - ((t - r) - w)
    t = r
    w = n * _PIO2_3
    r = t - w
    w = n * _PIO2_3T - ((t - r) - w)
    head = r - w
    tail = (r - head) - w
    return int(n) & 3, head, tail


@_scalar
def sin(x: float) -> float:
    """sin(x) in float64 (NaN for |x| > 823,549)."""
    if not abs(x) <= _REDUCIBLE:
        return math.nan
    if abs(x) < 0.7853981633974483:
        return _kernel_sin(x, 0.0) if abs(x) >= 7.450580596923828e-09 else x
    quadrant, head, tail = _reduce(x)
    if quadrant == 0:
        return _kernel_sin(head, tail)
    if quadrant == 1:
        return _kernel_cos(head, tail)
    if quadrant == 2:
        return -_kernel_sin(head, tail)
    return -_kernel_cos(head, tail)


@_scalar
def cos(x: float) -> float:
    """cos(x) in float64 (NaN for |x| > 823,549)."""
    if not abs(x) <= _REDUCIBLE:
        return math.nan
    if abs(x) < 0.7853981633974483:
        return _kernel_cos(x, 0.0)
    quadrant, head, tail = _reduce(x)
    if quadrant == 0:
        return _kernel_cos(head, tail)
    if quadrant == 1:
        return -_kernel_sin(head, tail)
    if quadrant == 2:
        return -_kernel_cos(head, tail)
    return _kernel_sin(head, tail)


@_scalar
def tan(x: float) -> float:
    """tan(x) as sin(x) / cos(x), in float64."""
    return sin(x) / cos(x)


@_scalar
def atan(x: float) -> float:
    """atan(x) in float64 (fdlibm)."""
    if x != x:
        return x
    a = abs(x)
    if a >= 7.378697629483821e19:  # 2^66
        result = _ATAN_HI[3] + _ATAN_LO[3]
        return result if x > 0 else -result
    if a < 0.4375:
        if a < 3.725290298461914e-09:  # 2^-28
            return x
        which = -1
        t = x
    elif a < 1.1875:
        if a < 0.6875:
            which, t = 0, (2.0 * a - 1.0) / (2.0 + a)
        else:
            which, t = 1, (a - 1.0) / (a + 1.0)
    elif a < 2.4375:
        which, t = 2, (a - 1.5) / (1.0 + 1.5 * a)
    else:
        which, t = 3, -1.0 / a
    z = t * t
    w = z * z
    s1 = z * (_AT0 + w * (_AT2 + w * (_AT4 + w * (_AT6 + w * (_AT8 + w * _AT10)))))
    s2 = w * (_AT1 + w * (_AT3 + w * (_AT5 + w * (_AT7 + w * _AT9))))
    if which < 0:
        return t - t * (s1 + s2)
    result = _ATAN_HI[which] - ((t * (s1 + s2) - _ATAN_LO[which]) - t)
    return result if x > 0 else -result


@_scalar
def atan2(y: float, x: float) -> float:
    """The angle of (x, y) in [-pi, pi], in float64 (quadrants and zeros as C's atan2)."""
    if x != x or y != y:
        return x + y
    if x == 1.0:
        return atan(y)
    if y == 0.0:
        if math.copysign(1.0, x) > 0:
            return y  # +-0
        return math.copysign(_PI, y)
    if x == 0.0:
        return math.copysign(_ATAN_HI[3] + _ATAN_LO[3], y)
    if math.isinf(x) or math.isinf(y):
        if math.isinf(x) and math.isinf(y):
            angle = 0.7853981633974483 if x > 0 else 3 * 0.7853981633974483
        elif math.isinf(y):
            angle = _ATAN_HI[3] + _ATAN_LO[3]
        else:
            angle = 0.0 if x > 0 else _PI
        return math.copysign(angle, y)
    z = atan(abs(y / x))
    if x > 0:
        return math.copysign(z, y)
    return math.copysign(_PI - (z - _PI_LO), y)


@_kernel
def _sin_kernel(values, out):
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = sin(flat_in[i])


@_kernel
def _cos_kernel(values, out):
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = cos(flat_in[i])


@_kernel
def _atan2_kernel(y, x, out):
    flat_y, flat_x, flat_out = y.reshape(-1), x.reshape(-1), out.reshape(-1)
    for i in range(flat_out.size):
        flat_out[i] = atan2(flat_y[i], flat_x[i])


def _apply(kernel, values: np.ndarray) -> np.ndarray:
    source = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty_like(source)
    kernel(source, out)
    return out


def sin_array(values: np.ndarray) -> np.ndarray:
    """Elementwise :func:`sin` (float64)."""
    return _apply(_sin_kernel, values)


def cos_array(values: np.ndarray) -> np.ndarray:
    """Elementwise :func:`cos` (float64)."""
    return _apply(_cos_kernel, values)


def atan2_array(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Elementwise :func:`atan2` of broadcast ``y`` and ``x`` (float64)."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
    out = np.empty(y.shape)
    _atan2_kernel(np.ascontiguousarray(y), np.ascontiguousarray(x), out)
    return out
