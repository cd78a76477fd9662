"""Functions as the fitness: the built-ins are minimised, a user's own maximised unless told,
batched or one vector at a time, and a function that misbehaves fails its members."""

from __future__ import annotations

import numpy as np
import pytest

from evo.config import from_dict
from evo.errors import ConfigError
from evo.population import Members
from evo.problems import Chunk, FunctionProblem, make_problem


def square_sum(points: np.ndarray) -> np.ndarray:
    return np.sum(points.astype(np.float64) ** 2, axis=1)


def wrong_shape(points: np.ndarray) -> np.ndarray:
    return np.zeros((len(points), 2))


def chunk(size: int) -> Chunk:
    members = Members.build(np.zeros(size, dtype=np.int32), 0, 0.0)
    return Chunk(np.arange(size), members, np.zeros((size, 1), dtype=np.uint32))


def problem(**function: object) -> FunctionProblem:
    config = from_dict({"function": {"dim": 3, **function}, "backend": {"kind": "serial"}})
    made = make_problem(config)
    assert isinstance(made, FunctionProblem)
    return made


POINTS = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.5]], dtype=np.float32)


def test_the_built_in_sphere_is_minimised() -> None:
    assert problem(name="sphere").evaluate(POINTS, chunk(2)).fitness.tolist() == [-9.0, -0.25]


def test_your_own_is_maximised_unless_minimize() -> None:
    entry = f"{__name__}:square_sum"
    assert problem(entry_point=entry).evaluate(POINTS, chunk(2)).fitness.tolist() == [9.0, 0.25]
    low = problem(entry_point=entry, minimize=True).evaluate(POINTS, chunk(2))
    assert low.fitness.tolist() == [-9.0, -0.25]


def test_one_vector_at_a_time() -> None:
    one = problem(entry_point="numpy:sum", batched=False)
    assert one.evaluate(POINTS, chunk(2)).fitness.tolist() == [5.0, 0.5]


def test_a_callable_from_python_needs_no_entry_point() -> None:
    config = from_dict({"function": {"dim": 3}, "backend": {"kind": "serial"}})
    made = make_problem(config, fitness=square_sum)
    assert made.policy.name == f"{__name__}:square_sum"
    assert made.evaluate(POINTS, chunk(2)).fitness.tolist() == [9.0, 0.25]
    with pytest.raises(ConfigError, match="function: expected a section with dim"):
        make_problem(from_dict({"backend": {"kind": "serial"}}), fitness=square_sum)


def test_a_wrong_shape_fails_every_member_with_a_message() -> None:
    result = problem(entry_point=f"{__name__}:wrong_shape").evaluate(POINTS, chunk(2))
    assert np.isnan(result.fitness).all()
    assert set(result.errors) == {0, 1}
    assert "returned shape (2, 2) for 2 members, expected (2,)" in result.errors[0]
