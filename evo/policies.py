"""The MLP policy: flat float32 parameters, a forward pass batched over many members.

Parameters are one flat vector per member, laid out layer by layer as the
weight matrix ``(fan_in, fan_out)`` in row-major order followed by the bias.
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

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of every layer."""
        widths = [self.obs_dim, *self.hidden_sizes, self.out_dim]
        return list(itertools.pairwise(widths))

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(fan_in * fan_out + fan_out for fan_in, fan_out in self.layer_sizes)

    def layers(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views ``(W, b)`` per layer of ``params`` shaped ``(members, num_params)``."""
        members = params.shape[0]
        views, offset = [], 0
        for fan_in, fan_out in self.layer_sizes:
            weight = params[:, offset : offset + fan_in * fan_out].reshape(members, fan_in, fan_out)
            offset += fan_in * fan_out
            bias = params[:, offset : offset + fan_out].reshape(members, 1, fan_out)
            offset += fan_out
            views.append((weight, bias))
        return views

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """Weights ~ N(0, 1/fan_in), the output layer scaled down by 10, biases zero."""
        chunks = []
        last = len(self.layer_sizes) - 1
        for index, (fan_in, fan_out) in enumerate(self.layer_sizes):
            std = 1.0 / math.sqrt(fan_in) * (0.1 if index == last else 1.0)
            chunks.append(rng.standard_normal(fan_in * fan_out) * std)
            chunks.append(np.zeros(fan_out))
        return np.concatenate(chunks).astype(np.float32)

    def forward(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Network outputs ``(members, rows, out_dim)`` for obs ``(members, rows, obs_dim)``."""
        activation = _ACTIVATIONS[self.activation]
        hidden = obs.astype(params.dtype, copy=False)
        layers = self.layers(params)
        for index, (weight, bias) in enumerate(layers):
            hidden = np.matmul(hidden, weight) + bias
            if index < len(layers) - 1:
                hidden = activation(hidden)
        return hidden

    def actions(self, outputs: np.ndarray) -> np.ndarray:
        """Env actions from outputs: argmax for discrete, tanh scaled to the bounds for Box."""
        if self.action == "discrete":
            return np.argmax(outputs, axis=-1) + self.action_start
        squashed = np.tanh(outputs)
        if self.action_low:
            low = np.asarray(self.action_low, dtype=outputs.dtype)
            high = np.asarray(self.action_high, dtype=outputs.dtype)
            squashed = low + (squashed + 1) * np.float32(0.5) * (high - low)
        return squashed.reshape(*outputs.shape[:-1], *self.action_shape)

    def act(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Forward pass and action selection in one call."""
        return self.actions(self.forward(params, obs))

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


def spec_for_spaces(
    observation_space: gymnasium.Space,
    action_space: gymnasium.Space,
    hidden_sizes: tuple[int, ...],
    activation: Literal["tanh", "relu"],
) -> MLPSpec:
    """The MLP that maps this observation space to this action space."""
    try:
        obs_dim = spaces.flatdim(observation_space)
    except (NotImplementedError, ValueError):
        raise ConfigError(
            f"env.id: expected an env whose observations can be flattened, "
            f"found {observation_space}"
        ) from None
    common = dict(obs_dim=obs_dim, hidden_sizes=tuple(hidden_sizes), activation=activation)
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
