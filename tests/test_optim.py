"""The optimizers of evo.optim against direct computations of their papers' updates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evo.optim import clipup


def test_clipup_matches_the_paper_update() -> None:
    rng = np.random.default_rng(0)
    step_size, momentum, max_speed = 0.1, 0.9, 0.15
    velocity = np.zeros(5)
    expected_velocity = np.zeros(5)
    for _ in range(6):
        gradient = rng.normal(size=5)
        update, velocity = clipup(
            gradient, velocity, step_size=step_size, momentum=momentum, max_speed=max_speed
        )
        # Toklu et al. (2020): v <- m v + alpha g/|g| (ascent on -g), then |v| <= v_max.
        expected_velocity = momentum * expected_velocity - step_size * gradient / np.linalg.norm(
            gradient
        )
        speed = np.linalg.norm(expected_velocity)
        if speed > max_speed:
            expected_velocity *= max_speed / speed
        np.testing.assert_allclose(velocity, expected_velocity, rtol=1e-12)
        np.testing.assert_array_equal(update, velocity)
    assert np.linalg.norm(velocity) <= max_speed * (1 + 1e-12)


def test_clipup_first_step_has_length_step_size_and_default_max_speed() -> None:
    update, _ = clipup(np.array([3.0, 4.0]), np.zeros(2), step_size=0.5)
    np.testing.assert_allclose(update, [-0.3, -0.4])
    # Without max_speed the speed stops at 2 * step_size (EvoTorch's default).
    velocity = np.zeros(2)
    for _ in range(50):
        _, velocity = clipup(np.array([1.0, 0.0]), velocity, step_size=0.5)
    assert np.linalg.norm(velocity) == pytest.approx(1.0)


def test_clipup_zero_gradient_only_decays_the_velocity() -> None:
    update, velocity = clipup(np.zeros(3), np.ones(3), step_size=0.1, momentum=0.5, max_speed=1.0)
    np.testing.assert_array_equal(velocity, np.full(3, 0.5))
    np.testing.assert_array_equal(update, velocity)


def test_norm_is_the_same_bits_wherever_the_vector_lies() -> None:
    """The norm's summation order depends on the length alone: the same vector at every
    8-byte offset of a buffer (as reruns place arrays), or as float32, gives one value."""
    from evo.optim import norm

    values = np.random.default_rng(5).standard_normal(10_001)
    seen = set()
    for offset in range(0, 64, 8):
        raw = np.frombuffer(bytearray(8 * values.size + 64), dtype=np.uint8)
        placed = raw[offset : offset + 8 * values.size].view(np.float64)
        placed[:] = values
        seen.add(norm(placed))
    assert len(seen) == 1
    (value,) = seen
    assert value == pytest.approx(float(np.linalg.norm(values)), rel=1e-14)
    assert norm(np.zeros(0)) == 0.0 and norm(np.full(3, 2.0, dtype=np.float32)) == math.sqrt(12)
