"""The MLP's (and the linear policy's) backward pass against central finite differences,
in float64."""

from __future__ import annotations

import numpy as np
import pytest

from evo.methods.gradient.heads import gaussian_nll, softmax_cross_entropy, squared_error
from evo.policies import MLPSpec


def _loss(spec: MLPSpec, head: str, params: np.ndarray, data: dict) -> tuple[float, np.ndarray]:
    trace = spec.trace(params, data["x"])
    outputs = trace[-1]
    if head == "softmax_cross_entropy":
        loss, d_out = softmax_cross_entropy(outputs, data["labels"], data["weights"])
    elif head == "gaussian_nll":
        loss, d_out = gaussian_nll(outputs, data["actions"], -0.3, data["weights"])
    else:
        loss, d_out = squared_error(outputs, data["targets"], data["weights"])
    return loss, spec.backward(params, trace, d_out)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("head", ["softmax_cross_entropy", "gaussian_nll", "squared_error"])
@pytest.mark.parametrize("hidden", [(), (7,), (6, 5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_backward_matches_central_differences(
    activation: str, head: str, hidden: tuple[int, ...], weighted: bool, bias: bool
) -> None:
    """Every layout, the linear policy of ARS (no hidden layer, no bias) among them."""
    rng = np.random.default_rng(len(hidden) * 10 + weighted)
    spec = MLPSpec(obs_dim=4, hidden_sizes=hidden, out_dim=3, activation=activation, bias=bias)
    params = rng.standard_normal(spec.num_params)  # float64, larger than the usual init
    rows = 9
    data = {
        "x": rng.standard_normal((rows, 4)),
        "labels": rng.integers(0, 3, rows),
        "actions": rng.standard_normal((rows, 3)),
        "targets": rng.standard_normal((rows, 3)),
        "weights": rng.standard_normal(rows) if weighted else None,
    }
    _, grad = _loss(spec, head, params, data)
    assert grad.shape == params.shape and grad.dtype == np.float64
    eps = 1e-6
    numeric = np.empty_like(params)
    for i in range(spec.num_params):
        up, down = params.copy(), params.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (_loss(spec, head, up, data)[0] - _loss(spec, head, down, data)[0]) / (2 * eps)
    scale = np.maximum(1.0, np.abs(numeric))
    assert np.max(np.abs(grad - numeric) / scale) < 1e-6


def test_trace_outputs_match_the_evolution_forward_pass() -> None:
    rng = np.random.default_rng(3)
    spec = MLPSpec(obs_dim=5, hidden_sizes=(8, 8), out_dim=2, activation="tanh")
    params = rng.standard_normal(spec.num_params)
    x = rng.standard_normal((11, 5))
    np.testing.assert_allclose(
        spec.trace(params, x)[-1], spec.forward(params[None], x[None])[0], rtol=1e-12
    )


def test_heads_sum_over_rows() -> None:
    """A head's loss and gradient over rows are the sums of its per-row values, so
    gradient sums from separate shards add up to the whole batch's."""
    rng = np.random.default_rng(5)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    whole, d_whole = softmax_cross_entropy(logits, labels)
    parts = [softmax_cross_entropy(logits[i : i + 1], labels[i : i + 1]) for i in range(6)]
    assert whole == pytest.approx(sum(p[0] for p in parts), rel=1e-12)
    np.testing.assert_allclose(d_whole, np.concatenate([p[1] for p in parts]), rtol=1e-12)
    # the cross-entropy of a uniform prediction is log(classes)
    flat, _ = softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]))
    assert flat == pytest.approx(3 * np.log(4))
