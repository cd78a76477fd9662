"""The one-call forward pass gives the same bits as the layer-by-layer kernels it replaces:
``kernels.dense`` per layer, ``kernels.tanh``, and numpy's float arithmetic for the bounds."""

from __future__ import annotations

import numpy as np
import pytest

from evo import kernels
from evo.policies import MLPSpec, _layer_offsets


def layer_by_layer(spec: MLPSpec, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """The outputs (Box: the actions) as one ``kernels.dense`` call a layer computes them."""
    hidden, offsets = obs, _layer_offsets(spec)
    for index, (weight_at, bias_at, fan_in, fan_out) in enumerate(offsets):
        activation = spec.activation if index < len(offsets) - 1 else "identity"
        hidden = kernels.dense(hidden, params, weight_at, bias_at, fan_in, fan_out, activation)
    if spec.action == "discrete":
        return hidden
    squashed = kernels.tanh(hidden)
    if not spec.action_low:
        return squashed
    low = np.asarray(spec.action_low, dtype=params.dtype)
    span = np.asarray(spec.action_high, dtype=params.dtype) - low
    return low + (squashed + 1) * params.dtype.type(0.5) * span


SPECS = {
    "race track": MLPSpec(obs_dim=11, hidden_sizes=(32, 32), out_dim=2, action="continuous",
                          action_shape=(2,), action_low=(-1.0, -0.5), action_high=(1.0, 2.0)),
    "cartpole": MLPSpec(obs_dim=4, hidden_sizes=(16,), out_dim=2),
    "lunar lander": MLPSpec(obs_dim=8, hidden_sizes=(16,), out_dim=4),
    "digits": MLPSpec(obs_dim=64, hidden_sizes=(32,), out_dim=10),
    "unbounded relu": MLPSpec(obs_dim=7, hidden_sizes=(5, 3), out_dim=3, activation="relu",
                              action="continuous", action_shape=(3,)),
    "linear": MLPSpec(obs_dim=9, hidden_sizes=(), out_dim=6, bias=False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("members", "rows", "shared"),
    [(1, 1, False), (5, 2, False), (64, 8, False), (3, 15, True), (4, 16, False), (7, 40, True)],
)
def test_one_call_is_the_layers_bit_for_bit(name, dtype, members, rows, shared) -> None:
    spec = SPECS[name]
    rng = np.random.default_rng(members * 100 + rows)
    params = (rng.standard_normal((members, spec.num_params)) * 0.7).astype(dtype)
    obs = (rng.standard_normal((1 if shared else members, rows, spec.obs_dim)) * 2).astype(dtype)
    obs.flat[::17] = 0.0
    obs.flat[5::23] = -0.0
    want = layer_by_layer(spec, params, obs)
    policy = spec.bind(params, rows=rows)
    got = policy.forward(obs) if spec.action == "discrete" else policy.act(obs)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    again = policy.forward(obs) if spec.action == "discrete" else policy.act(obs)
    assert again.tobytes() == want.tobytes()  # scratch buffers reused: the same bits
    if spec.action == "discrete":
        assert np.array_equal(policy.act(obs), np.argmax(want, axis=-1))


def test_discrete_actions_are_numpys_argmax_with_ties_and_nans() -> None:
    spec = MLPSpec(obs_dim=3, hidden_sizes=(), out_dim=4, action_start=-1)
    params = np.zeros((2, spec.num_params), np.float32)
    params[0, [0, 5, 10, 15]] = 1, 1, 1, 0.5  # outputs: the inputs, then 0.5
    params[1, [2, 6, 8, 9, 11]] = 1e30, -1e30, 1, 2, 2  # x2, 2 x2, inf - inf, 2 x2
    obs = np.array([[1, 2, 2], [0.5, 0.25, 0.5], [-1, -2, -3], [1e10, 1e10, 1]], np.float32)
    obs = np.concatenate([obs, [[np.inf, -np.inf, 1]]])[None]  # inf * 0: NaN outputs
    with np.errstate(invalid="ignore", over="ignore"):
        outputs = layer_by_layer(spec, params, obs)
        chosen = spec.bind(params).act(obs)
    assert np.isnan(outputs[:, 4, 0]).all() and not np.isnan(outputs[:, :3]).any()
    assert np.isnan(outputs[1, 3, 2]) and not np.isnan(outputs[1, 3, [0, 1, 3]]).any()
    want = np.argmax(outputs, axis=-1) - 1
    # ties: the first; NaN: the first NaN
    assert want.tolist() == [[0, -1, 2, -1, -1], [0, 1, 1, 1, -1]]
    assert chosen.dtype == want.dtype and np.array_equal(chosen, want)


def test_nan_and_infinite_inputs_pass_as_the_layers_pass_them() -> None:
    spec = SPECS["race track"]
    rng = np.random.default_rng(3)
    params = rng.standard_normal((6, spec.num_params)).astype(np.float32)
    obs = rng.standard_normal((6, 3, spec.obs_dim)).astype(np.float32)
    obs[1, 0, 2], obs[2, 1, 0], obs[3, 2, 5] = np.nan, np.inf, -np.inf
    params[4, 0] = 1e38
    want = layer_by_layer(spec, params, obs)
    got = spec.bind(params).act(obs)
    assert np.isnan(got).any()
    assert got.tobytes() == want.tobytes()


def test_bad_obs_shape_is_an_error() -> None:
    spec = SPECS["cartpole"]
    policy = spec.bind(np.zeros((3, spec.num_params), np.float32))
    with pytest.raises(ValueError, match="expected obs"):
        policy.forward(np.zeros((2, 1, spec.obs_dim), np.float32))
