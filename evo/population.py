"""A generation's candidates, described compactly: base vectors plus per-member records.

Member ``i`` is ``bases[b] + scale[i] * sign[i] * eps_i``, ``b = base_index[i]``, where
``eps_i = table[noise_offset[i] : noise_offset[i] + num_params]`` is a slice of the
shared noise table (:mod:`evo.noise`) the population names; with a ``spread`` (a
distribution with a standard deviation per coordinate: PGPE, SNES), the noise is scaled
per coordinate first: ``bases[b] + scale[i] * sign[i] * (spread[b] * eps_i)``. The
bases, spreads and the table's descriptor (the ES centre, the GA parents) travel once
per generation; each member is a 17-byte record. A dense population (one vector per
member) is the special case ``bases = vectors``, ``base_index = arange(n)``, ``scale = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evo.noise import NUMPY_SUM_LIMIT, NoiseTable, table


@dataclass(frozen=True)
class Members:
    """Per-member records: which base, which slice of the noise table, how much of it,
    which way."""

    base_index: np.ndarray  # (n,) int32
    noise_offset: np.ndarray  # (n,) int64: where the member's noise starts in the table
    scale: np.ndarray  # (n,) float32; 0 means the base itself
    sign: np.ndarray  # (n,) int8, +1 or -1

    @classmethod
    def build(
        cls,
        base_index: np.ndarray | list[int],
        noise_offset: np.ndarray | list[int] | int,
        scale: np.ndarray | list[float] | float,
        sign: np.ndarray | list[int] | int = 1,
    ) -> Members:
        """Records with the canonical dtypes (scalars broadcast to every member)."""
        base_index = np.asarray(base_index, dtype=np.int32)
        n = len(base_index)
        return cls(
            base_index=base_index,
            noise_offset=np.broadcast_to(np.asarray(noise_offset, dtype=np.int64), (n,)).copy(),
            scale=np.broadcast_to(np.asarray(scale, dtype=np.float32), (n,)).copy(),
            sign=np.broadcast_to(np.asarray(sign, dtype=np.int8), (n,)).copy(),
        )

    def __len__(self) -> int:
        return len(self.base_index)

    def take(self, indices: np.ndarray) -> Members:
        """The records of the members at ``indices``."""
        return Members(
            self.base_index[indices],
            self.noise_offset[indices],
            self.scale[indices],
            self.sign[indices],
        )

    @property
    def nbytes(self) -> int:
        """Payload size of the records."""
        return sum(a.nbytes for a in (self.base_index, self.noise_offset, self.scale, self.sign))


@dataclass(frozen=True)
class Bases:
    """What every task of a generation shares: the base vectors, if any their
    per-coordinate spreads, and the noise table the records index."""

    vectors: np.ndarray  # (num_bases, num_params) float32
    spread: np.ndarray | None = None  # (num_bases, num_params) float32, or None
    noise: NoiseTable | None = None  # None: no member is perturbed (dense populations)

    @property
    def nbytes(self) -> int:
        """Payload size of the arrays."""
        return self.vectors.nbytes + (0 if self.spread is None else self.spread.nbytes)


@dataclass(frozen=True)
class Population:
    """The candidates of one generation.

    ``incumbent`` says member 0 is the strategy's current solution, evaluated
    again on this generation's fresh episodes.
    """

    bases: np.ndarray  # (num_bases, num_params) float32
    members: Members
    incumbent: bool = False
    spread: np.ndarray | None = None  # (num_bases, num_params) float32: noise std per coordinate
    noise: NoiseTable | None = None  # the table the records index (None: dense members)

    @property
    def size(self) -> int:
        """Number of members."""
        return len(self.members)

    @property
    def shared(self) -> Bases:
        """What the generation's tasks share."""
        return Bases(self.bases, self.spread, self.noise)

    @property
    def num_params(self) -> int:
        """Length of each member's parameter vector."""
        return int(self.bases.shape[1])

    def pair_leaders(self) -> np.ndarray:
        """For each member, the first member drawn from the same base and noise at the same
        scale (its mirror image, or itself): ``(n,)`` int64 member indices."""
        members = self.members
        keys = np.stack(
            [
                members.base_index.astype(np.int64),
                members.noise_offset,
                members.scale.view(np.int32).astype(np.int64),
            ],
            axis=1,
        )
        # A member with scale 0 is its base itself: no mirror image shares its draw.
        keys[members.scale == 0, 1] = -1 - np.flatnonzero(members.scale == 0)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        return first[inverse.reshape(-1)].astype(np.int64)

    def params(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """The parameter vectors of the members at ``indices`` (all by default)."""
        members = self.members if indices is None else self.members.take(np.asarray(indices))
        return materialize(self.shared, members)


_NO_SPREAD = np.zeros((0, 0), dtype=np.float32)  # a population without spreads


def materialize(bases: Bases | np.ndarray, members: Members) -> np.ndarray:
    """Rebuild members' float32 parameter vectors from the bases and their records.

    The one place where a record becomes a vector, used by workers and the
    orchestrator alike, so both compute the same bits.
    """
    shared = bases if isinstance(bases, Bases) else Bases(bases)
    vectors = np.ascontiguousarray(shared.vectors, dtype=np.float32)
    out = np.empty((len(members), vectors.shape[1]), dtype=np.float32)
    coefficients = (members.scale.astype(np.float32) * members.sign.astype(np.float32)).astype(
        np.float32
    )
    perturbed = coefficients != 0
    if perturbed.any() and shared.noise is None:
        raise ValueError("perturbed members need the noise table their offsets index")
    values = table(shared.noise) if perturbed.any() else np.zeros(0, dtype=np.float32)
    spread = _NO_SPREAD if shared.spread is None else shared.spread
    arguments = (
        vectors,
        np.asarray(members.base_index, dtype=np.int64),
        np.ascontiguousarray(spread, dtype=np.float32),
        values,
        np.where(perturbed, members.noise_offset, 0).astype(np.int64),
        coefficients,
        out,
    )
    if out.size <= NUMPY_SUM_LIMIT:  # small: numpy, the same bits, no compiled code to load
        perturbed_rows_numpy(*arguments)
    else:
        from evo.noise_sums import perturbed_rows

        perturbed_rows(*arguments)
    return out


def perturbed_rows_numpy(
    bases: np.ndarray,
    base_index: np.ndarray,
    spread: np.ndarray,
    values: np.ndarray,
    offsets: np.ndarray,
    coefficients: np.ndarray,
    out: np.ndarray,
) -> None:
    """:func:`evo.noise_sums.perturbed_rows` in numpy: each element the same float32
    multiplies (``spread * noise`` first, with a spread) then the add; a row with
    coefficient 0 is a copy of its base."""
    out[:] = bases[base_index]
    rows = np.flatnonzero(coefficients != 0)
    if rows.size:
        pieces = values[offsets[rows, None] + np.arange(out.shape[1])]
        if spread.shape[0] > 0:
            pieces = spread[base_index[rows]] * pieces
        out[rows] = bases[base_index[rows]] + coefficients[rows, None] * pieces
