"""The MLP: parameter layout, batched forward, action heads, spaces."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from evo.errors import ConfigError
from evo.policies import MLPSpec, spec_for_spaces


def reference_forward(spec: MLPSpec, flat: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """One member, written out layer by layer from the documented layout."""
    hidden, offset = obs.astype(np.float32), 0
    sizes = spec.layer_sizes
    for index, (fan_in, fan_out) in enumerate(sizes):
        weight = flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        bias = flat[offset : offset + fan_out]
        offset += fan_out
        hidden = hidden @ weight + bias
        if index < len(sizes) - 1:
            hidden = np.tanh(hidden) if spec.activation == "tanh" else np.maximum(hidden, 0)
    assert offset == flat.size
    return hidden


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_layout_and_batched_forward(activation: str) -> None:
    spec = MLPSpec(obs_dim=5, hidden_sizes=(7, 3), out_dim=2, activation=activation)
    assert spec.num_params == 5 * 7 + 7 + 7 * 3 + 3 + 3 * 2 + 2
    rng = np.random.default_rng(0)
    params = rng.standard_normal((4, spec.num_params)).astype(np.float32)
    obs = rng.standard_normal((4, 6, 5)).astype(np.float32)
    out = spec.forward(params, obs)
    assert out.shape == (4, 6, 2) and out.dtype == np.float32
    for member in range(4):
        np.testing.assert_allclose(
            out[member], reference_forward(spec, params[member], obs[member]), rtol=1e-5, atol=1e-6
        )
        # A member's outputs do not depend on the rest of the batch, bit for bit.
        np.testing.assert_array_equal(
            spec.forward(params[member : member + 1], obs[member : member + 1])[0], out[member]
        )


def test_initial_params() -> None:
    spec = MLPSpec(obs_dim=4, hidden_sizes=(16,), out_dim=2)
    params = spec.initial_params(np.random.default_rng(1))
    assert params.shape == (spec.num_params,) and params.dtype == np.float32
    np.testing.assert_array_equal(params, spec.initial_params(np.random.default_rng(1)))
    (w1, b1), (w2, b2) = spec.layers(params[None])
    assert not b1.any() and not b2.any()
    assert np.abs(w2).mean() < np.abs(w1).mean()  # a small output layer


def test_discrete_actions_are_argmax_plus_start() -> None:
    spec = spec_for_spaces(spaces.Box(-1, 1, (3,)), spaces.Discrete(4, start=2), (8,), "tanh")
    assert (spec.out_dim, spec.action_start) == (4, 2)
    outputs = np.array([[[0.1, 0.9, 0.3, -1.0], [5.0, 0.0, 0.0, 0.0]]], dtype=np.float32)
    np.testing.assert_array_equal(spec.actions(outputs), [[3, 2]])


def test_continuous_actions_stay_inside_the_bounds() -> None:
    box = spaces.Box(np.array([-2, 0], np.float32), np.array([2, 10], np.float32), dtype=np.float32)
    spec = spec_for_spaces(spaces.Box(-1, 1, (3,)), box, (8,), "relu")
    outputs = np.array([[[-1e6, 1e6], [0.0, 0.0], [1e6, -1e6]]], dtype=np.float32)
    actions = spec.actions(outputs)
    np.testing.assert_allclose(actions[0], [[-2.0, 10.0], [0.0, 5.0], [2.0, 0.0]], atol=1e-5)
    assert all(box.contains(a.astype(np.float32)) for a in actions[0])


def test_multidimensional_box_actions_keep_their_shape() -> None:
    spec = spec_for_spaces(spaces.Box(-1, 1, (2, 3)), spaces.Box(-1, 1, (2, 2)), (4,), "tanh")
    assert spec.obs_dim == 6 and spec.out_dim == 4
    params = np.zeros((1, spec.num_params), np.float32)
    assert spec.act(params, np.zeros((1, 5, 6), np.float32)).shape == (1, 5, 2, 2)


def test_discrete_observations_are_one_hot() -> None:
    spec = spec_for_spaces(spaces.Discrete(5), spaces.Discrete(2), (4,), "tanh")
    assert spec.obs_dim == 5


def test_unsupported_action_space_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Discrete or Box action space"):
        spec_for_spaces(spaces.Box(-1, 1, (3,)), spaces.MultiBinary(3), (8,), "tanh")


def test_spec_json_round_trip() -> None:
    spec = spec_for_spaces(spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,)), (8, 8), "relu")
    assert MLPSpec.from_json(spec.to_json()) == spec
