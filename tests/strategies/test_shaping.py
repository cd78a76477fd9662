"""Fitness shaping: each mode's numbers on small examples, worked out by hand here."""

from __future__ import annotations

import numpy as np
import pytest

from evo.strategies.shaping import SHAPINGS, centered_ranks, raw, shape, top_directions, z_score


def test_centered_ranks_of_a_small_example() -> None:
    # ranks 2, 0, 3, 1 of four values, over n - 1 = 3, minus one half
    np.testing.assert_array_equal(
        centered_ranks(np.array([3.0, -1.0, 7.0, 0.5])), [2 / 3 - 0.5, -0.5, 0.5, 1 / 3 - 0.5]
    )


def test_centered_ranks_break_ties_by_member_index() -> None:
    np.testing.assert_array_equal(centered_ranks(np.array([1.0, 1.0, 1.0])), [-0.5, 0.0, 0.5])
    np.testing.assert_array_equal(centered_ranks(np.array([5.0])), [0.0])


def test_centered_ranks_put_failures_last() -> None:
    shaped = centered_ranks(np.array([2.0, np.nan, -np.inf, 1.0]))
    # NaN and -inf tie below every real value, the lower index ranking lower
    np.testing.assert_array_equal(shaped, [0.5, -0.5, 1 / 3 - 0.5, 2 / 3 - 0.5])


def test_z_score_of_a_small_example() -> None:
    fitness = np.array([1.0, 2.0, 3.0, 6.0])  # mean 3, population variance (4+1+0+9)/4
    expected = (fitness - 3.0) / np.sqrt(14 / 4)
    np.testing.assert_allclose(z_score(fitness), expected, rtol=0, atol=1e-15)
    assert z_score(fitness).mean() == pytest.approx(0.0, abs=1e-15)


def test_z_score_of_equal_values_is_zero() -> None:
    np.testing.assert_array_equal(z_score(np.array([4.0, 4.0, 4.0])), [0.0, 0.0, 0.0])


def test_raw_is_the_fitness() -> None:
    fitness = np.array([3.5, -2.0, 0.0])
    np.testing.assert_array_equal(raw(fitness), fitness)
    assert raw(fitness) is not fitness  # a copy: the caller's array is never written


@pytest.mark.parametrize("mode", ["z_score", "raw"])
def test_failures_count_as_the_worst_success(mode: str) -> None:
    with_failures = np.array([2.0, np.nan, 5.0, -np.inf])
    as_worst = np.array([2.0, 2.0, 5.0, 2.0])
    np.testing.assert_array_equal(shape(mode, with_failures), shape(mode, as_worst))
    np.testing.assert_array_equal(shape(mode, np.full(3, np.nan)), np.zeros(3))


@pytest.mark.parametrize("mode", sorted(SHAPINGS))
def test_every_mode_keeps_the_order_and_the_input(mode: str) -> None:
    fitness = np.array([0.3, -4.0, 10.0, 2.0])
    before = fitness.copy()
    shaped = shape(mode, fitness)
    np.testing.assert_array_equal(fitness, before)
    np.testing.assert_array_equal(np.argsort(shaped), np.argsort(fitness))


def test_top_directions_keep_the_best_sides() -> None:
    plus = np.array([1.0, 9.0, 3.0, 0.0, 4.0])
    minus = np.array([8.0, 0.0, 2.0, 5.0, 1.0])
    # better sides 8, 9, 3, 5, 4: the three highest are directions 1, 0 and 3
    np.testing.assert_array_equal(top_directions(plus, minus, 3), [0, 1, 3])
    np.testing.assert_array_equal(top_directions(plus, minus, None), np.arange(5))
    np.testing.assert_array_equal(top_directions(plus, minus, 7), np.arange(5))


def test_top_directions_ties_and_failures() -> None:
    plus = np.array([2.0, 2.0, np.nan, 2.0])
    minus = np.array([0.0, 0.0, np.nan, 0.0])
    np.testing.assert_array_equal(top_directions(plus, minus, 2), [0, 1])  # lower index kept
    # one failed side yields to the other; a direction failed on both sides comes last
    plus = np.array([np.nan, 1.0, np.nan])
    minus = np.array([3.0, 2.0, np.nan])
    np.testing.assert_array_equal(top_directions(plus, minus, 1), [0])
    np.testing.assert_array_equal(top_directions(plus, minus, 2), [0, 1])
