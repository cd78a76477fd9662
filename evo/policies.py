"""The MLP policy: flat float32 parameters, a forward pass batched over many members.

Parameters are one flat vector per member, laid out layer by layer as the
weight matrix ``(fan_in, fan_out)`` in row-major order followed by the bias
(none when ``bias`` is false). The linear policy of ARS (Mania et al. 2018),
``action = M obs``, is the MLP without hidden layers or biases.
A batch of members is a ``(members, num_params)`` array; the forward pass takes
observations shaped ``(members, rows, obs_dim)`` and does one batched matmul
per layer. Each member's slice has the same shape whatever the batch holds, so
a member's output does not depend on which other members share its chunk.
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

from evo.errors import ConfigError

_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, np.float32(0))}
_ACTIVATIONS_IN_PLACE = {
    "tanh": lambda x: np.tanh(x, out=x),
    "relu": lambda x: np.maximum(x, np.float32(0), out=x),
}
_IN_PLACE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # ops keep their dtype
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
    bounds: Literal["tanh", "clip"] = "tanh"  # Box actions: tanh squashed into the bounds,
    # or the outputs cut at them (ARS: clip(M obs, low, high))

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
        or the outputs clipped to them."""
        if self.action == "discrete":
            return _discrete_actions(self, outputs)
        if self.bounds == "clip":
            return _clipped_actions(self, outputs)
        squashed = np.tanh(outputs)
        in_place = squashed.dtype in _IN_PLACE_DTYPES  # a new array, of the outputs' dtype
        return _box_actions(self, squashed, _action_bounds(self, outputs.dtype), in_place)

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

    The layer views and the action bounds are made once, so each pass of an
    evaluation loop pays for its arithmetic only: the same operations in the same
    order as ever, float intermediates updated in place (which changes no bits).
    Given the ``rows`` per member its observations will have, the biases and
    bounds are also laid out for that many rows, so each addition is one pass
    over contiguous memory rather than a short one per row.
    """

    def __init__(self, spec: MLPSpec, params: np.ndarray, rows: int | None = None) -> None:
        self.spec = spec
        self.dtype = params.dtype
        self.layers = spec.layers(params)
        # obs shaped (members, rows, obs_dim) get the biases and bounds laid out for them
        self._tiled_for = None if rows is None else (len(params), rows)
        # float16 and the like are computed as they always were: numpy may promote mid-way.
        self._in_place = params.dtype in _IN_PLACE_DTYPES
        self._activation = (_ACTIVATIONS_IN_PLACE if self._in_place else _ACTIVATIONS)[
            spec.activation
        ]
        self._bounds = _action_bounds(spec, params.dtype)
        self._tiled_layers, self._tiled_bounds = self.layers, self._bounds
        if rows is not None:
            members = len(params)
            self._tiled_layers = [
                (weight, None if bias is None else _tile(bias, (members, rows, bias.shape[-1])))
                for weight, bias in self.layers
            ]
            if self._bounds is not None:
                shape = (members, rows, spec.out_dim)
                self._tiled_bounds = (_tile(self._bounds[0], shape), _tile(self._bounds[1], shape))

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Network outputs ``(members, rows, out_dim)`` for obs ``(members, rows, obs_dim)``."""
        hidden = obs.astype(self.dtype, copy=False)
        tiled = obs.shape[:-1] == self._tiled_for
        *inner, (weight, bias) = self._tiled_layers if tiled else self.layers
        grows = obs.ndim < 2  # one row: matmul drops the member axis, the bias brings it back
        for inner_weight, inner_bias in inner:
            hidden = np.matmul(hidden, inner_weight)  # a new array: obs is never written
            hidden = _add_bias(hidden, inner_bias, grows)
            hidden = self._activation(hidden)
        return _add_bias(np.matmul(hidden, weight), bias, grows)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Env actions for obs ``(members, rows, obs_dim)``."""
        outputs = self.forward(obs)
        if self.spec.action == "discrete":
            return _discrete_actions(self.spec, outputs)
        if self.spec.bounds == "clip":
            return _clipped_actions(self.spec, outputs, self._in_place)
        squashed = np.tanh(outputs, out=outputs if self._in_place else None)
        if squashed.dtype != self.dtype:  # promoted on the way (float16 and relu)
            return _box_actions(self.spec, squashed, _action_bounds(self.spec, squashed.dtype))
        bounds = self._tiled_bounds if obs.shape[:-1] == self._tiled_for else self._bounds
        return _box_actions(self.spec, squashed, bounds, self._in_place)


def _plus_bias(values: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """One member's layer output plus its bias (``bias`` a ``(1, 1, fan_out)`` view)."""
    return values if bias is None else values + bias[0]


def _add_bias(hidden: np.ndarray, bias: np.ndarray | None, grows: bool) -> np.ndarray:
    """A batched layer's output plus its bias, in place unless one row lost its member
    axis; without a bias, that axis comes back as the bias would have brought it."""
    if bias is None:
        return np.expand_dims(hidden, -2) if grows and hidden.ndim == 2 else hidden
    return hidden + bias if grows else np.add(hidden, bias, out=hidden)


def _tile(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` broadcast to ``shape``, as a contiguous read-only array."""
    tiled = np.ascontiguousarray(np.broadcast_to(values, shape))
    tiled.flags.writeable = False
    return tiled


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
    """``(low, high)`` of a bounded Box action in ``dtype``, or None."""
    if spec.action == "discrete" or not spec.action_low:
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
    bounds: Literal["tanh", "clip"] = "tanh",
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
