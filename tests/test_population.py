"""Members rebuilt from bases and records, with and without a per-coordinate spread."""

from __future__ import annotations

import numpy as np
import pytest

from evo.noise import NoiseTable
from evo.population import Bases, Members, Population, materialize, perturbed_rows_numpy

TABLE = NoiseTable(size=64, seed=5)


def _noise(offset: int, num_params: int) -> np.ndarray:
    """The table's slice, computed here from its definition: PCG64 float32 normals."""
    values = np.random.Generator(np.random.PCG64(5)).standard_normal(64, dtype=np.float32)
    return values[offset : offset + num_params]


def test_a_spread_scales_the_noise_per_coordinate_and_per_base() -> None:
    bases = np.array([[0.0, 1.0, 2.0], [10.0, 10.0, 10.0]], dtype=np.float32)
    spread = np.array([[1.0, 0.5, 0.0], [2.0, 2.0, 2.0]], dtype=np.float32)
    members = Members.build([0, 0, 1, 1], [7, 7, 9, 0], [0.1, 0.1, 0.3, 0.0], [1, -1, 1, 1])
    population = Population(bases, members, spread=spread, noise=TABLE)
    params = population.params()
    eps7, eps9 = _noise(7, 3), _noise(9, 3)
    expected = np.stack(
        [
            bases[0] + np.float32(0.1) * (spread[0] * eps7),
            bases[0] + np.float32(-0.1) * (spread[0] * eps7),
            bases[1] + np.float32(0.3) * (spread[1] * eps9),
            bases[1],
        ]
    )
    np.testing.assert_array_equal(params, expected)
    assert params[0, 2] == params[1, 2] == 2.0  # a zero spread: that coordinate stays put
    np.testing.assert_array_equal(materialize(population.shared, members.take([2])), params[[2]])


def test_without_a_spread_the_bases_alone_give_the_same_bits() -> None:
    bases = np.array([[0.5, -0.5]], dtype=np.float32)
    members = Members.build([0, 0], [3, 3], 0.2, [1, -1])
    with_bases = materialize(Bases(bases, noise=TABLE), members)
    np.testing.assert_array_equal(with_bases, materialize(Bases(bases, None, TABLE), members))
    np.testing.assert_allclose(with_bases[0] - bases[0], -(with_bases[1] - bases[0]), rtol=1e-5)
    assert Bases(bases).nbytes == bases.nbytes
    assert Bases(bases, bases).nbytes == 2 * bases.nbytes


def test_perturbed_members_without_a_table_are_refused() -> None:
    bases = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="noise table"):
        materialize(bases, Members.build([0], [3], 0.2))
    # Members that are their bases need none.
    np.testing.assert_array_equal(materialize(bases, Members.build([0], [0], 0.0)), bases)


def test_pair_leaders_name_the_first_member_of_each_mirrored_pair() -> None:
    """Members 2k and 2k+1 drawn from one noise slice at opposite signs share a leader;
    the base itself (scale 0) and another scale of the same slice lead themselves."""
    members = Members.build(
        base_index=[0, 0, 0, 0, 0, 1, 1, 0],
        noise_offset=[0, 40, 40, 7, 7, 40, 40, 40],
        scale=[0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2],
        sign=[1, 1, -1, 1, -1, 1, -1, 1],
    )
    population = Population(bases=np.zeros((2, 3), np.float32), members=members)
    np.testing.assert_array_equal(population.pair_leaders(), [0, 1, 1, 3, 3, 5, 5, 7])


@pytest.mark.parametrize("with_spread", [False, True])
def test_the_numpy_rows_are_the_compiled_kernels_bits(with_spread: bool) -> None:
    """Small populations are materialised with numpy (no compiled code to load), large
    ones with numba: the same bits, signed zeros, infinities and NaNs included."""
    from evo.noise_sums import perturbed_rows

    rng = np.random.default_rng(11)
    bases = (rng.standard_normal((3, 257)) * 10).astype(np.float32)
    bases[0, :4] = [-0.0, np.inf, np.nan, 3e38]
    values = rng.standard_normal(5_000).astype(np.float32)
    values[:3] = [np.inf, -0.0, 1e30]
    base_index = rng.integers(0, 3, 40).astype(np.int64)
    base_index[[0, 3]] = 0  # the special values: perturbed, and copied as they are
    offsets = rng.integers(0, 5_000 - 257, 40).astype(np.int64)
    offsets[:2] = 0
    coefficients = rng.standard_normal(40).astype(np.float32)
    coefficients[[3, 7]] = 0.0
    coefficients[5] = -0.0
    spread = (
        np.abs(rng.standard_normal((3, 257))).astype(np.float32)
        if with_spread
        else np.zeros((0, 0), dtype=np.float32)
    )
    arguments = (bases, base_index, spread, values, offsets, coefficients)
    compiled, plain = np.empty((40, 257), np.float32), np.empty((40, 257), np.float32)
    perturbed_rows(*arguments, compiled)
    perturbed_rows_numpy(*arguments, plain)
    assert compiled.tobytes() == plain.tobytes()
    assert np.signbit(plain[3, 0]) and plain[3].tobytes() == bases[base_index[3]].tobytes()
