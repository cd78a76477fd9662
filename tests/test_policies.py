"""The MLP and the linear policy: parameter layout, batched forward, action heads, spaces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from gymnasium import spaces

from evo.config import from_dict, to_dict
from evo.errors import ConfigError
from evo.policies import MLPSpec, spec_for_spaces


def reference_forward(spec: MLPSpec, flat: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """One member, written out layer by layer from the documented layout."""
    hidden, offset = obs.astype(np.float32), 0
    sizes = spec.layer_sizes
    for index, (fan_in, fan_out) in enumerate(sizes):
        weight = flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        if spec.bias:
            hidden = hidden @ weight + flat[offset : offset + fan_out]
            offset += fan_out
        else:
            hidden = hidden @ weight
        if index < len(sizes) - 1:
            hidden = np.tanh(hidden) if spec.activation == "tanh" else np.maximum(hidden, 0)
    assert offset == flat.size
    return hidden


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_layout_and_batched_forward(activation: str, bias: bool) -> None:
    spec = MLPSpec(obs_dim=5, hidden_sizes=(7, 3), out_dim=2, activation=activation, bias=bias)
    biases = 7 + 3 + 2 if bias else 0
    assert spec.num_params == 5 * 7 + 7 * 3 + 3 * 2 + biases
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


def test_linear_policy_is_a_matrix_times_the_observation() -> None:
    spec = MLPSpec(obs_dim=4, hidden_sizes=(), out_dim=3, bias=False)
    assert spec.linear and spec.num_params == 4 * 3
    rng = np.random.default_rng(2)
    params = rng.standard_normal((5, spec.num_params)).astype(np.float32)
    obs = rng.standard_normal((5, 7, 4)).astype(np.float32)
    out = spec.forward(params, obs)
    assert out.shape == (5, 7, 3) and out.dtype == np.float32
    for member in range(5):
        matrix = params[member].reshape(4, 3)  # row-major (fan_in, fan_out): action = obs @ M
        np.testing.assert_allclose(out[member], obs[member] @ matrix, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            spec.forward(params[member : member + 1], obs[member : member + 1])[0], out[member]
        )
    # bound for a number of rows, as the rollout binds it: the same bits
    np.testing.assert_array_equal(spec.bind(params, rows=7).forward(obs), out)
    # one observation row for every member keeps the member and row axes
    assert spec.forward(params, obs[0, 0]).shape == (5, 1, 3)


def test_linear_policy_starts_at_zero_as_ars_does() -> None:
    spec = MLPSpec(obs_dim=4, hidden_sizes=(), out_dim=2, bias=False)
    np.testing.assert_array_equal(spec.initial_params(np.random.default_rng(0)), np.zeros(8))
    ((weight, bias),) = spec.layers(np.zeros((1, 8), np.float32))
    assert weight.shape == (1, 4, 2) and bias is None


def test_linear_policy_bounds_continuous_actions() -> None:
    box = spaces.Box(-2.0, 2.0, (1,), dtype=np.float32)
    spec = spec_for_spaces(spaces.Box(-1, 1, (3,)), box, (), "tanh", bias=False)
    assert spec.linear and spec.num_params == 3
    params = np.array([[1e6, 0.0, 0.0], [-1e6, 0.0, 0.0]], np.float32)
    actions = spec.act(params, np.ones((2, 1, 3), np.float32))
    np.testing.assert_allclose(actions[:, 0, 0], [2.0, -2.0], atol=1e-5)
    assert MLPSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_actions_are_the_outputs_cut_at_the_bounds(dtype: type) -> None:
    """ARS's actions: M obs itself inside the box, the nearest bound outside it."""
    box = spaces.Box(np.array([-2, 0], np.float32), np.array([2, 10], np.float32), dtype=np.float32)
    spec = spec_for_spaces(spaces.Box(-1, 1, (2,)), box, (), "tanh", bias=False, bounds="clip")
    assert spec.bounds == "clip" and MLPSpec.from_json(spec.to_json()) == spec
    params = np.array([[1.0, 0.0, 0.0, 1.0], [-3.0, 0.0, 0.0, 30.0]], dtype=dtype)
    obs = np.array([[[0.5, 0.25], [-7.0, -1.0]]] * 2, dtype=dtype)
    expected = [[[0.5, 0.25], [-2.0, 0.0]], [[-1.5, 7.5], [2.0, 0.0]]]
    bound = spec.bind(params, rows=2)
    for actions in (spec.act(params, obs), bound.act(obs), spec.actions(spec.forward(params, obs))):
        assert actions.dtype == dtype
        np.testing.assert_array_equal(actions, expected)
    tanh = dataclasses.replace(spec, bounds="tanh")  # the default squashes instead
    assert not np.array_equal(tanh.act(params, obs), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_actions_are_the_outputs_themselves(dtype: type) -> None:
    """ARS's own code: M obs handed to the env uncut, inside the box or not."""
    box = spaces.Box(np.array([-2, 0], np.float32), np.array([2, 10], np.float32), dtype=np.float32)
    spec = spec_for_spaces(spaces.Box(-1, 1, (2,)), box, (), "tanh", bias=False, bounds="raw")
    assert spec.bounds == "raw" and MLPSpec.from_json(spec.to_json()) == spec
    params = np.array([[1.0, 0.0, 0.0, 1.0], [-3.0, 0.0, 0.0, 30.0]], dtype=dtype)
    obs = np.array([[[0.5, 0.25], [-7.0, -1.0]]] * 2, dtype=dtype)
    expected = [[[0.5, 0.25], [-7.0, -1.0]], [[-1.5, 7.5], [21.0, -30.0]]]
    bound = spec.bind(params, rows=2)
    for actions in (spec.act(params, obs), bound.act(obs), spec.actions(spec.forward(params, obs))):
        assert actions.dtype == dtype
        np.testing.assert_array_equal(actions, expected)


def test_a_spec_saved_before_action_bounds_squashes_with_tanh() -> None:
    spec = MLPSpec(obs_dim=3, hidden_sizes=(), out_dim=1, action="continuous")
    text = spec.to_json().replace(', "bounds": "tanh"', "").replace('"bounds": "tanh", ', "")
    assert "bounds" not in text and MLPSpec.from_json(text).bounds == "tanh"


def test_a_spec_saved_before_biases_were_optional_has_them() -> None:
    spec = MLPSpec(obs_dim=3, hidden_sizes=(4,), out_dim=2)
    text = spec.to_json().replace(', "bias": true', "").replace('"bias": true, ', "")
    assert "bias" not in text
    assert MLPSpec.from_json(text) == spec


@pytest.mark.parametrize(
    ("policy", "widths", "bias"),
    [
        ({}, (32,), True),
        ({"kind": "linear"}, (), False),
        ({"kind": "linear", "hidden_sizes": []}, (), False),
        ({"kind": "linear", "bias": True}, (), True),
        ({"kind": "mlp", "hidden_sizes": [8], "bias": False}, (8,), False),
    ],
)
def test_policy_config_kinds(policy: dict, widths: tuple[int, ...], bias: bool) -> None:
    config = from_dict({"policy": policy})
    assert (config.policy.hidden_sizes, config.policy.has_bias) == (widths, bias)
    assert from_dict(to_dict(config)) == config  # the resolved config reads back the same


def test_a_linear_policy_with_hidden_layers_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"policy.hidden_sizes: expected \[\] for a linear"):
        from_dict({"policy": {"kind": "linear", "hidden_sizes": [16]}})
