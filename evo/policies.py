"""The MLP policy: flat float32 parameters, a forward pass batched over many members.

Parameters are one flat vector per member, laid out layer by layer as the
weight matrix ``(fan_in, fan_out)`` in row-major order followed by the bias
(none when ``bias`` is false). The linear policy of ARS (Mania et al. 2018),
``action = M obs``, is the MLP without hidden layers or biases.
A batch of members is a ``(members, num_params)`` array; the forward pass takes
observations shaped ``(members, rows, obs_dim)`` and computes every layer in one
compiled call (:mod:`evo.forward`: each output summed in input order, no BLAS, the
same bits as :func:`evo.kernels.dense` layer by layer), so a member's output does not
depend on which other members share its chunk, on its row's position, or on the CPU;
tanh (hidden units and action squashing) is :func:`evo.kernels.tanh_scalar`, the same
bits everywhere. Gradient training's :meth:`MLPSpec.trace`
and :meth:`MLPSpec.backward` use numpy's matmul (BLAS): their last bits may depend on the
CPU model.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium import spaces

from evo import kernels
from evo.errors import ConfigError
from evo.forward import ForwardPass

_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, np.float32(0))}
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # others: computed in float64
_HALF = np.float32(0.5)


@dataclass(frozen=True)
class MLPSpec:
    """Shape of the network and how its outputs become env actions."""

    obs_dim: int
    hidden_sizes: tuple[int, ...]
    out_dim: int
    activation: Literal["tanh", "relu"] = "tanh"
    action: Literal["discrete", "continuous"] = "discrete"
    action_shape: tuple[int, ...] = ()
    action_low: tuple[float, ...] = ()  # continuous: finite bounds, or () for unbounded
    action_high: tuple[float, ...] = ()
    action_start: int = 0  # discrete: the first action's value
    bias: bool = True  # false: every layer is x @ W alone (the linear policy)
    bounds: Literal["tanh", "clip", "raw"] = "tanh"  # Box actions: tanh squashed into the
    # bounds, the outputs cut at them (clip(M obs, low, high)), or the outputs as they are
    # (raw: ARS's own code feeds M obs to the env, whose simulator clamps the controls)

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of every layer."""
        widths = [self.obs_dim, *self.hidden_sizes, self.out_dim]
        return list(itertools.pairwise(widths))

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(
            fan_in * fan_out + self._bias_size(fan_out) for fan_in, fan_out in self.layer_sizes
        )

    @property
    def linear(self) -> bool:
        """The linear policy of ARS: no hidden layer, no bias."""
        return not self.hidden_sizes and not self.bias

    def _bias_size(self, fan_out: int) -> int:
        return fan_out if self.bias else 0

    def layers(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Views ``(W, b)`` per layer of ``params`` shaped ``(members, num_params)``
        (``b`` None without biases)."""
        members = params.shape[0]
        views, offset = [], 0
        for fan_in, fan_out in self.layer_sizes:
            weight = params[:, offset : offset + fan_in * fan_out].reshape(members, fan_in, fan_out)
            offset += fan_in * fan_out
            bias = None
            if self.bias:
                bias = params[:, offset : offset + fan_out].reshape(members, 1, fan_out)
                offset += fan_out
            views.append((weight, bias))
        return views

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """Weights ~ N(0, 1/fan_in), the output layer scaled down by 10, biases zero;
        the linear policy starts at M = 0, as ARS does (Algorithm 1, line 2)."""
        if self.linear:
            return np.zeros(self.num_params, dtype=np.float32)
        chunks = []
        last = len(self.layer_sizes) - 1
        for index, (fan_in, fan_out) in enumerate(self.layer_sizes):
            std = 1.0 / math.sqrt(fan_in) * (0.1 if index == last else 1.0)
            chunks.append(rng.standard_normal(fan_in * fan_out) * std)
            chunks.append(np.zeros(self._bias_size(fan_out)))
        return np.concatenate(chunks).astype(np.float32)

    def forward(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Network outputs ``(members, rows, out_dim)`` for obs ``(members, rows, obs_dim)``."""
        return self.bind(params).forward(obs)

    def actions(self, outputs: np.ndarray) -> np.ndarray:
        """Env actions from outputs: argmax for discrete; for Box, tanh scaled to the bounds,
        or the outputs clipped to them, or the outputs themselves (raw)."""
        if self.action == "discrete":
            return _discrete_actions(self, outputs)
        if self.bounds != "tanh":
            return _clipped_actions(self, outputs)
        squashed = kernels.tanh(outputs)  # a new array, float32 or float64
        return _box_actions(self, squashed, _action_bounds(self, squashed.dtype), True)

    def act(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Forward pass and action selection in one call."""
        return self.bind(params).act(obs)

    def trace(self, params: np.ndarray, inputs: np.ndarray) -> list[np.ndarray]:
        """The forward pass of one member, keeping what :meth:`backward` needs.

        ``params`` is one flat vector ``(num_params,)`` and ``inputs`` a batch of
        rows ``(rows, obs_dim)``; returns ``[inputs, hidden_1, ..., outputs]``, the
        hidden layers after their activation, the outputs before any action head.
        Computed in the parameters' dtype (float64 for gradient training).
        """
        activation = _ACTIVATIONS[self.activation]
        *inner, last = self.layers(params[None, :])
        values = [np.asarray(inputs, dtype=params.dtype)]
        for weight, bias in inner:
            values.append(activation(_plus_bias(values[-1] @ weight[0], bias)))
        values.append(_plus_bias(values[-1] @ last[0][0], last[1]))
        return values

    def backward(
        self, params: np.ndarray, trace: list[np.ndarray], d_outputs: np.ndarray
    ) -> np.ndarray:
        """Gradient of a loss with respect to ``params``, summed over the trace's rows.

        ``d_outputs`` is the loss's gradient with respect to the outputs,
        ``(rows, out_dim)``; the result has the flat layout of ``params``
        (per layer: weight row-major, then bias).
        """
        grad = np.empty(self.num_params, dtype=params.dtype)
        layers = self.layers(params[None, :])
        offsets = np.cumsum([0] + [i * o + self._bias_size(o) for i, o in self.layer_sizes])
        delta = np.asarray(d_outputs, dtype=params.dtype)
        for index in range(len(layers) - 1, -1, -1):
            fan_in, fan_out = self.layer_sizes[index]
            start = offsets[index]
            below = trace[index]  # this layer's input
            grad[start : start + fan_in * fan_out] = (below.T @ delta).reshape(-1)
            if self.bias:
                grad[start + fan_in * fan_out : offsets[index + 1]] = delta.sum(axis=0)
            if index:
                delta = delta @ layers[index][0][0].T
                if self.activation == "tanh":
                    delta *= 1 - below * below
                else:  # relu: the gradient flows where the unit was active
                    delta *= below > 0
        return grad

    def bind(self, params: np.ndarray, rows: int | None = None) -> BoundPolicy:
        """The network with parameters ``(members, num_params)``, for many forward passes
        (of observations with ``rows`` rows per member, if given)."""
        return BoundPolicy(self, params, rows)

    def to_json(self) -> str:
        """The spec as JSON (stored beside parameters so a policy can be rebuilt)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MLPSpec:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        for key in ("hidden_sizes", "action_shape", "action_low", "action_high"):
            data[key] = tuple(data[key])
        return cls(**data)


class BoundPolicy:
    """An :class:`MLPSpec` bound to a batch of members' parameters, for many forward passes.

    The parameters are made contiguous (float32 or float64; other dtypes become
    float64) and the layers' offsets and action bounds computed once; each pass, the
    action squashing included, is then one compiled call (:class:`evo.forward.ForwardPass`,
    scratch buffers reused), so an evaluation loop pays for its arithmetic only. ``rows``
    (the rows per member the observations will have) is accepted for the callers that
    know it; the kernels need no layout made for it.
    """

    def __init__(self, spec: MLPSpec, params: np.ndarray, rows: int | None = None) -> None:
        self.spec = spec
        dtype = params.dtype if params.dtype in _KERNEL_DTYPES else np.dtype(np.float64)
        self.params = np.ascontiguousarray(params, dtype=dtype)
        self.dtype = dtype
        self._bounds = _action_bounds(spec, dtype)
        self._pass = ForwardPass(self.params, _layer_offsets(spec), spec.activation, self._bounds)

    @property
    def forward_pass(self) -> ForwardPass:
        """The compiled pass these parameters are bound to (its layers, activation, bounds)."""
        return self._pass

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Network outputs ``(members, rows, out_dim)`` for obs ``(members, rows, obs_dim)``
        (or one block ``(rows, obs_dim)``, or one row ``(obs_dim,)``, for every member)."""
        return self._pass(self._inputs(obs))

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Env actions for obs ``(members, rows, obs_dim)``."""
        if self.spec.action == "discrete":
            chosen = self._pass(self._inputs(obs), squash="argmax")
            return chosen + self.spec.action_start if self.spec.action_start else chosen
        if self.spec.bounds != "tanh":  # the pass's output is its own: cut in place
            return _clipped_actions(self.spec, self._pass(self._inputs(obs)), in_place=True)
        actions = self._pass(self._inputs(obs), squash="bounds")
        if actions.shape[-1:] == self.spec.action_shape:
            return actions
        return actions.reshape(*actions.shape[:-1], *self.spec.action_shape)

    def _inputs(self, obs: np.ndarray) -> np.ndarray:
        """Obs as the forward pass takes them: ``(members or 1, rows, obs_dim)``, contiguous,
        in the parameters' dtype (a copy only where needed)."""
        inputs = np.asarray(obs)
        if inputs.ndim < 3:
            inputs = inputs.reshape(1, -1, inputs.shape[-1])
        members, width = self.params.shape[0], self.spec.obs_dim
        if inputs.ndim != 3 or inputs.shape[0] not in (1, members) or inputs.shape[2] != width:
            raise ValueError(f"expected obs (members or 1, rows, {width}), found {obs.shape}")
        return np.ascontiguousarray(inputs, dtype=self.dtype)


def _layer_offsets(spec: MLPSpec) -> list[tuple[int, int, int, int]]:
    """``(weight_at, bias_at, fan_in, fan_out)`` of every layer in the flat parameters
    (``bias_at`` -1 without biases)."""
    offsets, offset = [], 0
    for fan_in, fan_out in spec.layer_sizes:
        bias_at = offset + fan_in * fan_out if spec.bias else -1
        offsets.append((offset, bias_at, fan_in, fan_out))
        offset += fan_in * fan_out + spec._bias_size(fan_out)
    return offsets


def _plus_bias(values: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """One member's layer output plus its bias (``bias`` a ``(1, 1, fan_out)`` view)."""
    return values if bias is None else values + bias[0]


def _discrete_actions(spec: MLPSpec, outputs: np.ndarray) -> np.ndarray:
    chosen = np.argmax(outputs, axis=-1)
    return chosen + spec.action_start if spec.action_start else chosen


def _action_bounds(spec: MLPSpec, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high - low)`` of a bounded Box action in ``dtype``, or None."""
    if spec.action == "discrete" or not spec.action_low:
        return None
    low = np.asarray(spec.action_low, dtype=dtype)
    high = np.asarray(spec.action_high, dtype=dtype)
    return low, high - low


def _box_actions(
    spec: MLPSpec,
    squashed: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None,
    in_place: bool = False,
) -> np.ndarray:
    """Box actions from the tanh of the outputs (overwritten if ``in_place``)."""
    if bounds is not None:
        low, span = bounds
        if in_place:
            np.add(squashed, 1, out=squashed)
            np.multiply(squashed, _HALF, out=squashed)
            np.multiply(squashed, span, out=squashed)
            squashed = np.add(low, squashed, out=squashed)
        else:
            squashed = low + (squashed + 1) * _HALF * span
    if squashed.shape[-1:] == spec.action_shape:
        return squashed
    return squashed.reshape(*squashed.shape[:-1], *spec.action_shape)


def _clip_bounds(spec: MLPSpec, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` of a bounded Box action in ``dtype``, or None (raw: not cut)."""
    if spec.action == "discrete" or not spec.action_low or spec.bounds == "raw":
        return None
    return np.asarray(spec.action_low, dtype=dtype), np.asarray(spec.action_high, dtype=dtype)


def _clipped_actions(spec: MLPSpec, outputs: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Box actions as the outputs cut at the bounds (overwritten if ``in_place``)."""
    bounds = _clip_bounds(spec, outputs.dtype)
    if bounds is not None:
        outputs = np.clip(outputs, *bounds, out=outputs if in_place else None)
    if outputs.shape[-1:] == spec.action_shape:
        return outputs
    return outputs.reshape(*outputs.shape[:-1], *spec.action_shape)


def spec_for_spaces(
    observation_space: gymnasium.Space,
    action_space: gymnasium.Space,
    hidden_sizes: tuple[int, ...],
    activation: Literal["tanh", "relu"],
    bias: bool = True,
    bounds: Literal["tanh", "clip", "raw"] = "tanh",
) -> MLPSpec:
    """The MLP that maps this observation space to this action space (``bounds``: how a
    Box action is kept in its bounds)."""
    try:
        obs_dim = spaces.flatdim(observation_space)
    except (NotImplementedError, ValueError):
        raise ConfigError(
            f"env.id: expected an env whose observations can be flattened, "
            f"found {observation_space}"
        ) from None
    common = dict(
        obs_dim=obs_dim, hidden_sizes=tuple(hidden_sizes), activation=activation, bias=bias
    )
    if isinstance(action_space, spaces.Discrete):
        return MLPSpec(
            out_dim=int(action_space.n),
            action="discrete",
            action_start=int(action_space.start),
            **common,
        )
    if isinstance(action_space, spaces.Box):
        low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
        bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        return MLPSpec(
            out_dim=int(np.prod(action_space.shape)),
            action="continuous",
            action_shape=tuple(int(s) for s in action_space.shape),
            action_low=tuple(float(v) for v in low) if bounded else (),
            action_high=tuple(float(v) for v in high) if bounded else (),
            bounds=bounds,
            **common,
        )
    raise ConfigError(
        f"env.id: expected an env with a Discrete or Box action space, found {action_space}"
    )


def flatten_observation(space: gymnasium.Space, observation: Any) -> np.ndarray:
    """One observation as a flat row (float32 for Box spaces, the fast path)."""
    if isinstance(space, spaces.Box):
        return np.asarray(observation).reshape(-1)
    return spaces.flatten(space, observation)
