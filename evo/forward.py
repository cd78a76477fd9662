"""The MLP policy's whole forward pass in one compiled call, the same bits on every CPU.

Every output is summed over its inputs in input order, starting from zero, and its
bias added last; hidden units go through :func:`evo.kernels.tanh_scalar` (or relu), and
a Box action's squashing is ``low + (tanh + 1) * 0.5 * span`` rounded step by step in
the outputs' dtype, as numpy computes it. These are exactly the operations of
:func:`evo.kernels.dense` and :func:`evo.kernels.tanh` layer by layer, so the results
are the same bits; what changes is the speed: one call per pass (no dispatch, temporary
array or copy per layer), intermediates kept in scratch buffers reused from call to call,
and loops laid out so that SIMD covers many independent sums:

- few rows a member (env steps): a row at a time, SIMD over the *members*, with the
  parameters transposed once to ``(num_params, members)`` so one weight of every member
  is a contiguous vector (:func:`_forward_by_row`);
- many rows a member (a data set's minibatch): a member at a time, SIMD over the *rows*,
  its inputs transposed to ``(units, rows)`` (:func:`_forward_by_member`).

Both sum four inputs a pass (``((s + x0 w0) + x1 w1) + ...``, the same order as one at a
time), so each partial sum is loaded and stored once per four terms.
"""

from __future__ import annotations

import numba
import numpy as np

from evo.kernels import ACTIVATIONS, tanh_scalar

_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")

# What the outputs become: as they are, tanh, tanh scaled to [low, high], or also the
# index of the largest (the discrete action: np.argmax's, the first NaN else the first top).
SQUASH = {"none": 0, "tanh": 1, "bounds": 2, "argmax": 3}

# Rows per member from which SIMD over the rows beats SIMD over the members.
_MANY_ROWS = 16


@_inline
def _activate(flat, activation):
    if activation == 1:
        for i in range(flat.size):
            flat[i] = tanh_scalar(float(flat[i]))
    elif activation == 2:  # np.maximum(v, 0): a NaN passes, -0.0 stays
        for i in range(flat.size):
            v = flat[i]
            flat[i] = v if v >= 0 or v != v else 0


@_inline
def _squashed(value, squash, low, span, j):
    """An output as the action head makes it (``squash`` as in :data:`SQUASH`)."""
    if squash == 0 or squash == 3:
        return value
    value = span.dtype.type(tanh_scalar(float(value)))
    if squash == 1:
        return value
    return low[j] + (value + span.dtype.type(1)) * span.dtype.type(0.5) * span[j]


@_inline
def _argmax(outputs):
    """The index of the largest of ``outputs``, as ``np.argmax`` picks it."""
    best, top = 0, outputs[0]
    if top != top:
        return 0
    for j in range(1, outputs.size):
        value = outputs[j]
        if value != value:
            return j
        if value > top:
            best, top = j, value
    return best


@_inline
def _sum_members(source, params_t, weight_at, fan_in, fan_out, lanes, total):
    """``total[j, m] += sum_k source[k, m] * W_m[k, j]`` over ``lanes`` members, k in turn."""
    k = 0
    while k + 4 <= fan_in:
        x0, x1 = source[k * lanes : (k + 1) * lanes], source[(k + 1) * lanes : (k + 2) * lanes]
        x2, x3 = (
            source[(k + 2) * lanes : (k + 3) * lanes],
            source[(k + 3) * lanes : (k + 4) * lanes],
        )
        for j in range(fan_out):
            w0 = params_t[weight_at + k * fan_out + j]
            w1 = params_t[weight_at + (k + 1) * fan_out + j]
            w2 = params_t[weight_at + (k + 2) * fan_out + j]
            w3 = params_t[weight_at + (k + 3) * fan_out + j]
            sums = total[j * lanes : (j + 1) * lanes]
            for m in range(lanes):  # independent sums: each keeps its order in k
                partial = (sums[m] + x0[m] * w0[m]) + x1[m] * w1[m]
                sums[m] = (partial + x2[m] * w2[m]) + x3[m] * w3[m]
        k += 4
    while k < fan_in:
        inputs = source[k * lanes : (k + 1) * lanes]
        for j in range(fan_out):
            weight, sums = params_t[weight_at + k * fan_out + j], total[j * lanes : (j + 1) * lanes]
            for m in range(lanes):
                sums[m] += inputs[m] * weight[m]
        k += 1


@_inline
def _sum_rows(source, weights, weight_at, fan_in, fan_out, lanes, total):
    """``total[j, r] += sum_k source[k, r] * W[k, j]`` over ``lanes`` rows, k in turn."""
    for j in range(fan_out):
        sums = total[j * lanes : (j + 1) * lanes]
        k = 0
        while k + 4 <= fan_in:
            w0, w1 = (
                weights[weight_at + k * fan_out + j],
                weights[weight_at + (k + 1) * fan_out + j],
            )
            w2 = weights[weight_at + (k + 2) * fan_out + j]
            w3 = weights[weight_at + (k + 3) * fan_out + j]
            x0, x1 = source[k * lanes : (k + 1) * lanes], source[(k + 1) * lanes : (k + 2) * lanes]
            x2 = source[(k + 2) * lanes : (k + 3) * lanes]
            x3 = source[(k + 3) * lanes : (k + 4) * lanes]
            for r in range(lanes):  # independent sums: each keeps its order in k
                partial = (sums[r] + x0[r] * w0) + x1[r] * w1
                sums[r] = (partial + x2[r] * w2) + x3[r] * w3
            k += 4
        while k < fan_in:
            weight, inputs = (
                weights[weight_at + k * fan_out + j],
                source[k * lanes : (k + 1) * lanes],
            )
            for r in range(lanes):
                sums[r] += inputs[r] * weight
            k += 1


@_kernel
def _forward_by_row(obs, params_t, layers, activation, squash, low, span, scratch, out, chosen):
    """The pass a row at a time, SIMD over the members (``params_t`` ``(num_params,
    members)``; ``scratch`` ``(2, width * members)``, a row's ``(units, members)`` blocks)."""
    members, rows, last = out.shape[0], out.shape[1], layers.shape[0] - 1
    shared = obs.shape[0] == 1
    for r in range(rows):
        source = scratch[0]
        for k in range(layers[0, 2]):
            for m in range(members):
                source[k * members + m] = obs[0 if shared else m, r, k]
        for index in range(layers.shape[0]):
            weight_at, bias_at, fan_in, fan_out = layers[index]
            total = scratch[(index + 1) % 2]
            total[: fan_out * members] = 0
            _sum_members(source, params_t, weight_at, fan_in, fan_out, members, total)
            if bias_at >= 0:
                for j in range(fan_out):
                    bias, sums = params_t[bias_at + j], total[j * members : (j + 1) * members]
                    for m in range(members):
                        sums[m] += bias[m]
            if index < last:
                _activate(total[: fan_out * members], activation)
            source = total
        for j in range(out.shape[2]):
            for m in range(members):
                out[m, r, j] = _squashed(source[j * members + m], squash, low, span, j)
        if squash == 3:
            for m in range(members):
                chosen[m, r] = _argmax(out[m, r])


@_kernel
def _forward_by_member(obs, params, layers, activation, squash, low, span, scratch, out, chosen):
    """The pass a member at a time, SIMD over its rows (``scratch`` ``(3, width * rows)``:
    the inputs and two layers' outputs as ``(units, rows)`` blocks)."""
    members, rows, last = out.shape[0], out.shape[1], layers.shape[0] - 1
    shared = obs.shape[0] == 1
    inputs = scratch[0]
    for m in range(members):
        if m == 0 or not shared:  # one block of inputs for every member: transposed once
            block = obs[0 if shared else m]
            for k in range(layers[0, 2]):
                for r in range(rows):
                    inputs[k * rows + r] = block[r, k]
        source, weights = inputs, params[m]
        for index in range(layers.shape[0]):
            weight_at, bias_at, fan_in, fan_out = layers[index]
            total = scratch[1 + index % 2]
            total[: fan_out * rows] = 0
            _sum_rows(source, weights, weight_at, fan_in, fan_out, rows, total)
            if bias_at >= 0:
                for j in range(fan_out):
                    bias, sums = weights[bias_at + j], total[j * rows : (j + 1) * rows]
                    for r in range(rows):
                        sums[r] += bias
            if index < last:
                _activate(total[: fan_out * rows], activation)
            source = total
        for j in range(out.shape[2]):
            for r in range(rows):
                out[m, r, j] = _squashed(source[j * rows + r], squash, low, span, j)
        if squash == 3:
            for r in range(rows):
                chosen[m, r] = _argmax(out[m, r])


# The row-at-a-time pass, for compiled callers that batch members themselves
# (:mod:`evo.problems.fused` plays whole episodes in one call).
forward_by_row = _forward_by_row


class ForwardPass:
    """The forward pass of one batch of members' parameters, for many calls.

    ``params`` is ``(members, num_params)``, contiguous, float32 or float64; ``layers``
    the ``(weight_at, bias_at, fan_in, fan_out)`` of every layer (``bias_at`` -1 for
    none); ``bounds`` a bounded Box action's ``(low, high - low)`` in that dtype.
    """

    def __init__(
        self,
        params: np.ndarray,
        layers: list[tuple[int, int, int, int]],
        activation: str,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.params = params
        self.layers = np.array(layers, dtype=np.int64).reshape(-1, 4)
        self.activation = ACTIVATIONS[activation]
        empty = np.empty(0, dtype=params.dtype)
        self.low, self.span = (empty, empty) if bounds is None else bounds
        self.width = int(max(self.layers[:, 2].max(), self.layers[:, 3].max()))
        self.out_dim = int(self.layers[-1, 3])
        self._params_t: np.ndarray | None = None
        self._scratch: dict[int, np.ndarray] = {}  # by rows

    def __call__(self, obs: np.ndarray, squash: str = "none") -> np.ndarray:
        """Outputs ``(members, rows, out_dim)`` for contiguous obs ``(members or 1, rows,
        fan_in)`` in the parameters' dtype, squashed as ``squash`` says (see :data:`SQUASH`;
        "argmax": the chosen indices ``(members, rows)`` instead, int64)."""
        members, rows = self.params.shape[0], obs.shape[1]
        out = np.empty((members, rows, self.out_dim), dtype=self.params.dtype)
        mode = SQUASH[squash if squash != "bounds" or self.low.size else "tanh"]
        chosen = np.empty((members, rows) if mode == 3 else (0, 0), dtype=np.int64)
        scratch = self._scratch.get(rows)
        if scratch is None:
            many_rows = rows >= _MANY_ROWS
            shape = (3, self.width * rows) if many_rows else (2, self.width * members)
            scratch = self._scratch[rows] = np.empty(shape, dtype=self.params.dtype)
        if scratch.shape[0] == 3:
            weights, kernel = self.params, _forward_by_member
        else:
            if self._params_t is None:
                self._params_t = np.ascontiguousarray(self.params.T)
            weights, kernel = self._params_t, _forward_by_row
        kernel(
            obs,
            weights,
            self.layers,
            self.activation,
            mode,
            self.low,
            self.span,
            scratch,
            out,
            chosen,
        )
        return chosen if mode == 3 else out
