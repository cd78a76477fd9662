"""The evaluation path's arithmetic is the same bits on every CPU: a fixed-order forward
pass, and tanh, exp, log, sin, cos, tan and atan2 that do not depend on the CPU's features.

CPUs are emulated in subprocesses: numpy's SIMD dispatch switched off
(``NPY_DISABLE_CPU_FEATURES``), numba compiling for a generic x86-64
(``NUMBA_CPU_NAME=generic``), and glibc's libm told the CPU has neither AVX2 nor FMA
(``GLIBC_TUNABLES``), which makes it pick other variants of sin, exp, log and more, and
OpenBLAS using its kernels for an AVX2 CPU (``OPENBLAS_CORETYPE``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from envs.racetrack import trig
from evo import forward, kernels
from evo.policies import MLPSpec

# glibc >= 2.33 names the features without the old "_Usable" suffix.
GLIBC_NO_FMA = "glibc.cpu.hwcaps=-AVX2,-FMA"


def older_cpu_environment(cache: Path) -> dict[str, str]:
    """This process's environment as if on a CPU without AVX-512, AVX2 or FMA (BLAS: AVX2)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    dispatched = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    return {
        **os.environ,
        "NPY_DISABLE_CPU_FEATURES": ",".join(dispatched),
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(cache),  # never a cache compiled for this CPU
        "GLIBC_TUNABLES": GLIBC_NO_FMA,
        "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS's kernels for a CPU without AVX-512
    }


def reference_dense(x, params, weight_at, bias_at, fan_in, fan_out, activation):
    """The layer in plain Python: each output summed over the inputs in order, in float32."""
    members, rows = params.shape[0], x.shape[1]
    out = np.empty((members, rows, fan_out), dtype=np.float32)
    for m in range(members):
        source = x[0] if x.shape[0] == 1 else x[m]
        for r in range(rows):
            for j in range(fan_out):
                total = np.float32(0)
                for k in range(fan_in):
                    total = total + source[r, k] * params[m, weight_at + k * fan_out + j]
                if bias_at >= 0:
                    total = total + params[m, bias_at + j]
                out[m, r, j] = total
    if activation == "tanh":
        out = kernels.tanh(out)
    return out


@pytest.mark.parametrize(
    ("members", "shared", "rows", "fan_in", "fan_out", "bias"),
    [(3, False, 1, 4, 2, True), (2, False, 8, 11, 32, True), (2, True, 40, 13, 10, True),
     (4, False, 17, 5, 3, False), (1, False, 16, 7, 9, True)],
)  # fmt: skip
def test_dense_is_the_plain_loop(members, shared, rows, fan_in, fan_out, bias) -> None:
    rng = np.random.default_rng(rows * 100 + fan_in)
    size = fan_in * fan_out + (fan_out if bias else 0)
    params = rng.standard_normal((members, size + 3)).astype(np.float32)
    x = rng.standard_normal((1 if shared else members, rows, fan_in)).astype(np.float32)
    bias_at = 3 + fan_in * fan_out if bias else -1
    for activation in ("identity", "tanh"):
        got = kernels.dense(x, params, 3, bias_at, fan_in, fan_out, activation)
        want = reference_dense(x, params, 3, bias_at, fan_in, fan_out, activation)
        assert got.dtype == np.float32
        assert got.tobytes() == want.tobytes()


def test_a_members_outputs_do_not_depend_on_its_batch() -> None:
    spec = MLPSpec(obs_dim=11, hidden_sizes=(32, 32), out_dim=2, action="continuous",
                   action_shape=(2,), action_low=(-1.0, -1.0), action_high=(1.0, 1.0))  # fmt: skip
    rng = np.random.default_rng(5)
    member = rng.standard_normal(spec.num_params).astype(np.float32)
    for rows in (1, 8, 16, 40):  # both loop orders of the kernel
        obs = rng.standard_normal((rows, spec.obs_dim)).astype(np.float32)
        alone = spec.act(member[None], obs[None])[0]
        for size in (1, 3, 8, 17, 64):
            for position in range(size):
                params = rng.standard_normal((size, spec.num_params)).astype(np.float32)
                params[position] = member
                batch_obs = rng.standard_normal((size, rows, spec.obs_dim)).astype(np.float32)
                batch_obs[position] = obs
                seen = spec.bind(params, rows=rows).act(batch_obs)[position]
                assert seen.tobytes() == alone.tobytes(), (rows, size, position)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    signed = np.int32 if a.dtype == np.float32 else np.int64
    return np.abs(a.view(signed).astype(np.int64) - b.view(signed).astype(np.int64))


def test_tanh_is_float32_tanh_within_one_ulp() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.standard_normal(1_000_000) * 3,
            rng.uniform(-12, 12, 500_000),
            10 ** rng.uniform(-44, 1.3, 500_000) * rng.choice([-1, 1], 500_000),
        ]
    ).astype(np.float32)
    correctly_rounded = np.tanh(x.astype(np.float64)).astype(np.float32)
    assert _ulps(kernels.tanh(x), correctly_rounded).max() <= 1
    edges = np.array([0.0, -0.0, np.inf, -np.inf, 1e30, -1e30, 1e-45, -1e-45], np.float32)
    got = kernels.tanh(edges)
    assert got.tobytes() == np.tanh(edges.astype(np.float64)).astype(np.float32).tobytes()
    assert np.isnan(kernels.tanh(np.array([np.nan], np.float32))).all()
    in_place = x[:1000].copy()
    assert kernels.tanh(in_place, out=in_place) is in_place
    assert in_place.tobytes() == kernels.tanh(x[:1000]).tobytes()


def test_exp_log_sin_cos_atan2_are_accurate() -> None:
    rng = np.random.default_rng(1)
    wide = rng.uniform(-745, 709, 500_000)
    assert _ulps(kernels.exp(wide), np.exp(wide)).max() <= 1
    positive = 10 ** rng.uniform(-300, 300, 500_000)
    assert _ulps(kernels.log(positive), np.log(positive)).max() <= 1
    angles = np.concatenate([rng.uniform(-4, 4, 300_000), rng.uniform(-1e5, 1e5, 300_000)])
    assert _ulps(trig.sin_array(angles), np.sin(angles)).max() <= 1
    assert _ulps(trig.cos_array(angles), np.cos(angles)).max() <= 1
    y, x = rng.standard_normal((2, 300_000)) * 10
    assert _ulps(trig.atan2_array(y, x), np.arctan2(y, x)).max() <= 1
    specials = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])
    rows, columns = np.meshgrid(specials, specials)
    got, want = trig.atan2_array(rows, columns), np.arctan2(rows, columns)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert kernels.exp(np.array([-746.0, 710.0, 0.0])).tolist() == [0.0, math.inf, 1.0]
    assert kernels.log(np.array([0.0, 1.0, math.inf])).tolist() == [-math.inf, 0.0, math.inf]
    assert np.isnan(kernels.log(np.array([-1.0]))).all()
    assert np.isnan(trig.sin_array(np.array([np.inf, 1e6]))).all()  # outside the domain


@numba.njit
def _exp_one_at_a_time(values, out):
    for i in range(values.size):
        out[i] = kernels.exp_scalar(values[i])


def test_exp_of_an_array_is_exp_scalar_of_each_element() -> None:
    rng = np.random.default_rng(2)
    edges = [np.nan, np.inf, -np.inf, 0.0, -0.0, 693.0, -693.0, 693.0000001, -693.0000001]
    edges += [709.78, 709.79, -745.1, -745.2, -708.4, -708.3, 5e-324, -5e-324, 1e-300]
    values = np.concatenate(
        [rng.uniform(-800, 800, 300_000), rng.standard_normal(300_000) * 10, edges]
    )
    want = np.empty_like(values)
    _exp_one_at_a_time(values, want)
    assert kernels.exp(values).tobytes() == want.tobytes()
    assert kernels.exp(values.reshape(2, -1)).tobytes() == want.tobytes()


@pytest.mark.slow
def test_no_fused_multiply_adds_in_the_compiled_kernels() -> None:
    """numba without fastmath must not contract a * b + c: check the machine code (fresh
    compilations, since cached code cannot be inspected)."""

    @numba.njit
    def transcendental(values, out):
        for i in range(values.size):
            out[i] = kernels.tanh_scalar(values[i]) + kernels.exp_scalar(values[i])
            out[i] += kernels.log_scalar(values[i]) + trig.sin(values[i]) + trig.cos(values[i])
            out[i] += trig.atan2(values[i], 2.0) + trig.tan(values[i])

    values = np.linspace(0.1, 2, 64)
    transcendental(values, np.empty_like(values))
    by_row = numba.njit(kernels._dense_by_row.py_func)
    by_column = numba.njit(kernels._dense_by_column.py_func)
    params = np.ones((2, 20), np.float32)
    by_row(np.ones((2, 4, 3), np.float32), params, 0, 12, 3, 4, np.empty((2, 4, 4), np.float32))
    by_column(np.ones((2, 3, 4), np.float32), params, 0, 12, 3, 4, np.empty((2, 4, 4), np.float32))
    layers = np.array([(0, 12, 3, 4), (16, 36, 4, 5)], np.int64)
    bounds, params_t = np.ones(5, np.float32), np.ones((41, 2), np.float32)
    whole_by_row = numba.njit(forward._forward_by_row.py_func)
    whole_by_member = numba.njit(forward._forward_by_member.py_func)
    obs, out = np.ones((2, 20, 3), np.float32), np.empty((2, 20, 5), np.float32)
    chosen = np.empty((2, 20), np.int64)
    whole_by_row(
        obs, params_t, layers, 1, 3, bounds, bounds, np.empty((2, 10), np.float32), out, chosen
    )
    scratch = np.empty((3, 100), np.float32)
    whole_by_member(obs, params_t.T.copy(), layers, 1, 2, bounds, bounds, scratch, out, chosen)
    exp_array = numba.njit(kernels._exp_kernel.py_func)
    exp_array(values, np.empty_like(values))
    compiled = [transcendental, by_row, by_column, whole_by_row, whole_by_member, exp_array]
    for function in compiled:
        machine_code = "".join(function.inspect_asm().values()).lower()
        assert "vfmadd" not in machine_code and "vfnmadd" not in machine_code
        assert "vfmsub" not in machine_code and "vfnmsub" not in machine_code


HASHES = """
import hashlib, json, math, sys
import numpy as np
from envs.racetrack import trig
from evo import kernels
from evo.policies import MLPSpec
rng = np.random.default_rng(7)
x32 = (rng.standard_normal(400_003) * 4).astype(np.float32)
x64 = rng.uniform(-50, 50, 400_003)
spec = MLPSpec(obs_dim=11, hidden_sizes=(32, 32), out_dim=2)
params = rng.standard_normal((9, spec.num_params)).astype(np.float32)
obs = rng.standard_normal((9, 13, 11)).astype(np.float32)
box = MLPSpec(obs_dim=11, hidden_sizes=(32, 32), out_dim=2, action="continuous",
              action_shape=(2,), action_low=(-1.0, -1.0), action_high=(1.0, 1.0))
minibatch = rng.standard_normal((1, 300, 11)).astype(np.float32)
digest = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
print(json.dumps({
    "tanh": digest(kernels.tanh(x32)), "tanh64": digest(kernels.tanh(x64 / 10)),
    "exp": digest(kernels.exp(x64)), "log": digest(kernels.log(np.abs(x64))),
    "sin": digest(trig.sin_array(x64)), "cos": digest(trig.cos_array(x64)),
    "atan2": digest(trig.atan2_array(x64, x64[::-1])), "forward": digest(spec.forward(params, obs)),
    "act": digest(box.act(params, obs)), "minibatch": digest(spec.forward(params, minibatch)),
    # controls: what the emulated CPU does change
    "libm_sin": digest(np.array([math.sin(v) for v in x64[:200_000]])),
    "numpy_tanh": digest(np.tanh(x32)),
}))
"""


def _hashes(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", HASHES], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_functions_hash_the_same_on_an_emulated_older_cpu(tmp_path: Path) -> None:
    from numpy._core._multiarray_umath import __cpu_features__

    here = _hashes(dict(os.environ))
    older = _hashes(older_cpu_environment(tmp_path / "numba-cache"))
    controls = {"libm_sin", "numpy_tanh"}
    assert {k: v for k, v in here.items() if k not in controls} == {
        k: v for k, v in older.items() if k not in controls
    }
    # The emulation is real where the CPU has the features it takes away.
    if __cpu_features__.get("FMA3") and __cpu_features__.get("AVX2"):
        assert here["libm_sin"] != older["libm_sin"]
    if __cpu_features__.get("AVX512F") or __cpu_features__.get("AVX2"):
        assert here["numpy_tanh"] != older["numpy_tanh"]
