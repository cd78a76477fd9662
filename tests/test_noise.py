"""The shared noise table: its definition, its sums (numpy and numba, the same bits, on
any CPU), its size, and the episode seeds that replaced a SeedSequence per member."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evo import noise
from evo.noise import NoiseTable, default_size, draw_offsets, moments, table, weighted_sum
from evo.seeding import confirm_seeds, episode_seeds, final_seeds
from tests.conftest import REPO, run_cli

SMALL = NoiseTable(size=50_000, seed=3)


def test_the_table_is_pcg64_float32_normals_built_once_and_read_only() -> None:
    values = table(SMALL)
    expected = np.random.Generator(np.random.PCG64(3)).standard_normal(50_000, dtype=np.float32)
    np.testing.assert_array_equal(values, expected)
    assert table(SMALL) is values  # kept for the process
    assert not values.flags.writeable
    assert NoiseTable.from_array(SMALL.as_array()) == SMALL
    other = NoiseTable(size=50_000, seed=4)
    assert not np.array_equal(table(other)[:10], expected[:10])


def test_offsets_cover_every_slice_and_stay_inside() -> None:
    rng = np.random.default_rng(0)
    tiny = NoiseTable(size=12)
    offsets = draw_offsets(rng, 5000, tiny, 10)
    assert offsets.dtype == np.int64 and set(offsets.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="outside the table"):
        weighted_sum(tiny, np.array([3]), np.array([1.0]), 10)


def test_default_size_is_bounded_and_fits_the_parameters() -> None:
    assert default_size(10) == 2**22  # small nets: 16 MiB
    assert default_size(10_000) == 1024 * 10_000
    assert default_size(10**6) == 2**28  # capped at 1 GiB ...
    assert default_size(2**28) == 2**29  # ... unless one member needs more


def _reference(
    values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, n: int
) -> tuple[np.ndarray, ...]:
    """The sums written out member by member in float64, as the strategies once did."""
    total, first, second = np.zeros(n), np.zeros(n), np.zeros(n)
    for weight, square, offset in zip(a, b, offsets, strict=True):
        eps = values[offset : offset + n].astype(np.float64)
        total += weight * eps
        first += weight * eps
        second += square * (eps * eps - 1.0)
    return total, first, second


@pytest.mark.parametrize("members", [1, 7, 8, 13, 203])  # around the kernels' groups of 8
def test_numpy_and_numba_sums_are_the_reference_bits(
    members: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 3001
    rng = np.random.default_rng(members)
    offsets = draw_offsets(rng, members, SMALL, n)
    a, b = rng.standard_normal(members), rng.standard_normal(members)
    a[::3] = 0.0  # zero weights are left out of the weighted sum: no change to its bits
    total, first, second = _reference(table(SMALL), offsets, a, b, n)
    for limit in (10**12, 0):  # numpy loop, then the numba kernels
        monkeypatch.setattr(noise, "NUMPY_SUM_LIMIT", limit)
        np.testing.assert_array_equal(weighted_sum(SMALL, offsets, a, n), total)
        got_first, got_second = moments(SMALL, offsets, a, b, n)
        np.testing.assert_array_equal(got_first, first)
        np.testing.assert_array_equal(got_second, second)


_DIGEST = """
import hashlib, numpy as np
from evo import noise
spec = noise.NoiseTable(size=200_000, seed=11)
rng = np.random.default_rng(5)
offsets = noise.draw_offsets(rng, 300, spec, 5000)
a, b = rng.standard_normal(300), rng.standard_normal(300)
first, second = noise.moments(spec, offsets, a, b, 5000)
total = noise.weighted_sum(spec, offsets, a, 5000)
print(hashlib.sha256(first.tobytes() + second.tobytes() + total.tobytes()).hexdigest())
"""


def test_the_kernels_give_the_same_bits_on_a_cpu_without_fma_or_avx(tmp_path: Path) -> None:
    """numba compiled for a generic x86-64 (no FMA, no AVX) in another process: the same
    digest as for this CPU, as the numpy loop gives."""
    digests = []
    for cpu in (None, "generic"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(tmp_path / "c")}
        if cpu:
            env["NUMBA_CPU_NAME"] = cpu
            env["NUMBA_CACHE_DIR"] = str(tmp_path / cpu)
        done = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    spec = NoiseTable(size=200_000, seed=11)
    rng = np.random.default_rng(5)
    offsets = draw_offsets(rng, 300, spec, 5000)
    a, b = rng.standard_normal(300), rng.standard_normal(300)
    total, first, second = _reference(table(spec), offsets, a, b, 5000)
    expected = hashlib.sha256(first.tobytes() + second.tobytes() + total.tobytes()).hexdigest()
    assert digests == [expected, expected]


def test_a_table_shorter_than_the_parameters_is_a_config_error(tmp_path: Path) -> None:
    done = run_cli(
        "run",
        "cartpole-es",
        "--set",
        "algorithm.noise_table_size=10",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "algorithm.noise_table_size: expected at least the number of parameters" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_episode_seeds_are_deterministic_distinct_and_disjoint_from_the_others() -> None:
    members = np.arange(2000)
    seeds = episode_seeds(7, 3, members, 4)
    assert seeds.shape == (2000, 4) and seeds.dtype == np.uint32
    np.testing.assert_array_equal(seeds, episode_seeds(7, 3, members, 4))
    # A member's seeds do not depend on which other members are asked for.
    np.testing.assert_array_equal(episode_seeds(7, 3, members[[5, 1999]], 4), seeds[[5, 1999]])
    assert len(np.unique(seeds)) > 0.999 * seeds.size  # 31-bit hashes: rare collisions only
    others = [episode_seeds(8, 3, members, 4), episode_seeds(7, 4, members, 4)]
    assert all(np.mean(seeds == other) < 0.001 for other in others)  # seed, generation
    assert np.all(seeds >> 31 == 0)  # training seeds: top bit 0
    assert np.all(confirm_seeds(7, 3, 50) >> 30 == 2) and np.all(final_seeds(50) >> 30 == 3)
    common = episode_seeds(7, 3, members[:10], 4, common=True)
    assert np.all(common == common[0]) and len(set(common[0].tolist())) == 4
    assert not np.isin(common[0], seeds).any()
