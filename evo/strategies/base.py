"""The strategy protocol: hyper-parameters in the object, the evolving state explicit.

``init(rng, params) -> state``, ``ask(rng, state) -> (population, state)``,
``tell(state, population, fitness) -> (state, metrics)``. A state is a frozen
dataclass, replaced and never mutated. The public methods do the shared work
(best-so-far, failed evaluations) and call a small private hook that each
algorithm implements in its own file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from evo.config import AlgorithmConfig, ConfigError, option
from evo.noise import (
    NoiseTable,
    build_soon,
    default_size,
    draw_offsets,
    moments,
    weighted_sum,
)
from evo.population import Members, Population


@dataclass(frozen=True)
class State:
    """What every strategy tracks: a generation counter and the best member seen, and
    the noise table its members index (checkpointed, so a resume indexes the same one)."""

    generation: int
    best_params: np.ndarray  # (num_params,) float32
    best_fitness: float  # -inf until a member succeeds
    # NoiseTable.as_array(): [seed, size]; None for strategies whose members are dense.
    noise_table: np.ndarray | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class NoiseTableConfig(AlgorithmConfig):
    """The key of the strategies whose members are slices of the shared noise table."""

    noise_table_size: int | None = option(
        None,
        "floats in the shared noise table every member's noise is a slice of (null: 1024 x "
        "the parameters, at least 2**22 and at most 2**28; 4 bytes each, in every process)",
        ge=1,
    )


S = TypeVar("S", bound=State)
C = TypeVar("C", bound=AlgorithmConfig)


class Strategy(Generic[C, S]):
    """Base class: subclasses set ``name``, ``config_class``, ``state_class`` and the hooks."""

    name: ClassVar[str]
    config_class: ClassVar[type[AlgorithmConfig]]
    state_class: ClassVar[type[State]]

    def __init__(self, config: C) -> None:
        self.config = config

    def init(self, rng: np.random.Generator, params: np.ndarray) -> S:
        """The initial state around the initial parameter vector ``params``."""
        params = np.asarray(params, dtype=np.float32)
        state = self._init(rng, params.copy())
        noise_table = self.noise_table(len(params))
        if noise_table is None:
            return state
        build_soon(noise_table)  # the first generation needs it: built meanwhile
        return dataclasses.replace(state, noise_table=noise_table.as_array())

    def noise_table(self, num_params: int) -> NoiseTable | None:
        """The noise table this strategy's members of ``num_params`` index (None: dense
        members), as the config sizes it."""
        if not isinstance(self.config, NoiseTableConfig):
            return None
        size = self.config.noise_table_size or default_size(num_params)
        if size < num_params:
            raise ConfigError(
                f"algorithm.noise_table_size: expected at least the number of parameters "
                f"({num_params}), found {size}"
            )
        return NoiseTable(size)

    def ask(self, rng: np.random.Generator, state: S) -> tuple[Population, S]:
        """The next generation's candidates (all randomness from ``rng``)."""
        return self._ask(rng, state)

    def tell(
        self,
        state: S,
        population: Population,
        fitness: np.ndarray,
        scores: np.ndarray | None = None,
    ) -> tuple[S, dict[str, Any]]:
        """Update the state with the fitness of every member (NaN = failed evaluation);
        the best member so far is judged on ``scores`` if given (the env's own returns when
        the fitness the strategy learns from is shifted), else on the fitness."""
        fitness = np.asarray(fitness, dtype=np.float64)
        if fitness.shape != (population.size,):
            raise ValueError(
                f"expected {population.size} fitness values, got shape {fitness.shape}"
            )
        # A failed evaluation ranks below every real one and can never become the best.
        fitness = np.where(np.isnan(fitness), -np.inf, fitness)
        judged = fitness if scores is None else np.asarray(scores, dtype=np.float64)
        judged = np.where(np.isnan(judged), -np.inf, judged)
        best = int(np.argmax(judged))
        if judged[best] > state.best_fitness:
            state = dataclasses.replace(
                state, best_params=population.params([best])[0], best_fitness=float(judged[best])
            )
        state, metrics = self._tell(state, population, fitness)
        return dataclasses.replace(state, generation=state.generation + 1), metrics

    def solution(self, state: S) -> np.ndarray:
        """The parameters this strategy recommends now (ES: the centre; GA: the top parent)."""
        raise NotImplementedError

    def base_origins(self, state: S) -> np.ndarray | None:
        """Which evaluated member each base vector of the next ``ask`` is, as
        ``(generation, member)`` rows (``-1, -1``: the initial parameters), for the lineage;
        None when the bases are not members (the ES centre, a distribution's mean)."""
        return None

    def _init(self, rng: np.random.Generator, params: np.ndarray) -> S:
        raise NotImplementedError

    def _ask(self, rng: np.random.Generator, state: S) -> tuple[Population, S]:
        raise NotImplementedError

    def _tell(
        self, state: S, population: Population, fitness: np.ndarray
    ) -> tuple[S, dict[str, Any]]:
        raise NotImplementedError


def table_of(state: State) -> NoiseTable:
    """The noise table ``state``'s members index."""
    assert state.noise_table is not None, "a strategy of seed records has a noise table"
    return NoiseTable.from_array(state.noise_table)


def draw_noise(rng: np.random.Generator, state: State, count: int) -> np.ndarray:
    """``count`` noise offsets (int64) into ``state``'s table from the strategy's generator."""
    return draw_offsets(rng, count, table_of(state), len(state.best_params))


def nes_utilities(fitness: np.ndarray) -> np.ndarray:
    """Fitness shaping of NES (Wierstra et al. 2014, "Natural Evolution Strategies"), as in
    SNES and xNES: the k-th best of n gets ``max(0, log(n/2 + 1) - log k) / sum_j(...) - 1/n``.

    Ties are broken by member index, so the result is deterministic.
    """
    n = len(fitness)
    utilities = np.empty(n, dtype=np.float64)
    # Best first; a stable sort of the negated fitness keeps the lower index ahead on ties.
    utilities[np.argsort(-fitness, kind="stable")] = _utilities_by_rank(n)
    return utilities


@functools.lru_cache(maxsize=8)
def _utilities_by_rank(n: int) -> np.ndarray:
    """The NES utilities of ranks 1..n (read-only; a population size has one set)."""
    raw = np.array([max(0.0, math.log(n / 2 + 1) - math.log(k)) for k in range(1, n + 1)])
    utilities = raw / raw.sum() - 1 / n
    utilities.setflags(write=False)
    return utilities


def libm_exp(values: np.ndarray) -> np.ndarray:
    """``exp`` element by element through the C library: numpy's vectorised ``exp`` takes
    a SIMD path on some CPUs whose rounding differs, and the state must be the same bits
    on every machine."""
    flat = np.asarray(values, dtype=np.float64).ravel().tolist()
    return np.array(list(map(math.exp, flat)), dtype=np.float64).reshape(np.shape(values))


def spread_population(
    state: State, centre: np.ndarray, stdev: np.ndarray, offsets: np.ndarray, signs: np.ndarray
) -> Population:
    """Member 0 the centre, then ``centre + sign * (stdev * eps)`` per noise offset: a
    diagonal Gaussian's samples as 17-byte records around one base with its spread."""
    n = len(offsets)
    members = Members.build(
        base_index=np.zeros(n + 1, dtype=np.int32),
        noise_offset=np.concatenate([np.zeros(1, dtype=np.int64), offsets]),
        scale=np.concatenate([[0.0], np.ones(n)]),
        sign=np.concatenate([[1], signs]),
    )
    return Population(
        bases=centre.astype(np.float32)[None, :],
        members=members,
        incumbent=True,
        spread=stdev.astype(np.float32)[None, :],
        noise=table_of(state),
    )


def noise_moments(
    population: Population, mean_weights: np.ndarray, stdev_weights: np.ndarray, rows: slice
) -> tuple[np.ndarray, np.ndarray]:
    """``(sum_k a_k eps_k, sum_k b_k (eps_k^2 - 1))`` over the noise of the members at
    ``rows``, in member order, in float64: the search gradients of a diagonal Gaussian's
    mean and deviation."""
    assert population.noise is not None, "members with noise index a table"
    offsets = population.members.noise_offset[rows]
    return moments(population.noise, offsets, mean_weights, stdev_weights, population.num_params)


def noise_sum(population: Population, weights: np.ndarray, rows: slice | np.ndarray) -> np.ndarray:
    """``sum_k w_k eps_k`` over the noise of the members at ``rows``, in member order, in
    float64 (a zero weight adds nothing)."""
    assert population.noise is not None, "members with noise index a table"
    offsets = population.members.noise_offset[rows]
    return weighted_sum(population.noise, offsets, weights, population.num_params)


def mirrored_population(
    rng: np.random.Generator,
    state: State,
    centre: np.ndarray,
    pairs: int,
    scale: float,
    incumbent: bool = True,
) -> Population:
    """Member 0 the centre itself (the incumbent, judged by the stop rule), then ``pairs``
    mirrored pairs ``centre +/- scale * eps``, one noise offset a pair (members 2k+1, 2k+2):
    the antithetic sampling of OpenAI-ES and ARS. Without the ``incumbent`` the pairs
    alone (members 2k, 2k+1), from the same draws."""
    offsets = np.repeat(draw_noise(rng, state, pairs), 2)
    signs = np.tile(np.array([1, -1], dtype=np.int8), pairs)
    first = 1 if incumbent else 0
    members = Members.build(
        base_index=np.zeros(2 * pairs + first, dtype=np.int32),
        noise_offset=np.concatenate([np.zeros(first, dtype=np.int64), offsets]),
        scale=np.concatenate([np.zeros(first), np.full(2 * pairs, scale)]),
        sign=np.concatenate([np.ones(first, dtype=np.int8), signs]),
    )
    return Population(
        bases=centre[None, :], members=members, incumbent=incumbent, noise=table_of(state)
    )
