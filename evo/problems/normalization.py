"""Observation normalisation of an env's policy (ARS V2, Mania, Guy & Recht 2018, Alg. 2).

A member plays with ``clip((x - mean) / std, -c, c)`` of each raw observation
``x``, where ``mean`` and ``std`` are the per-coordinate statistics of every
observation the run's members have been fed so far, *frozen at the start of
the generation*: every member of a generation plays with the same normaliser
whichever chunk or worker runs it. As in Algorithm 2, the first generation
plays with mean 0 and std 1 (``mu_0 = 0, Sigma_0 = I``); after each generation
the statistics grow by what its members saw. A coordinate that has not varied
yet (std below ``MIN_STD``) is centred but not scaled.

What counts: every raw observation (as float32, as the policy takes it) fed to
the policy of a live episode of a training generation: each episode's first
observation and one after every step that did not end it (so a member's count
equals its env steps). The
observations after an episode's last step, those of finished episodes still in
the lockstep block, of members whose env raised, and of the final evaluation
and stop confirmations are not counted.

Where the statistics live: beside the strategy state, as the problem's own
state, not inside it. The strategies know nothing of observations (a GA,
CMA-ES or ES state is the same with or without them), so the
:class:`~evo.session.Session` holds the running :class:`ObservationStats`,
hands their frozen :class:`Normalizer` to each generation's evaluation,
merges the generation's sums after it, and checkpoints them in the same
``.npz`` as the strategy state (``normalization.*``). ``best.npz`` and each
generation's lineage carry them too, so a replay and a member export rebuild
the very policy that was scored.

Bits: each lane sums its own observations in float64, step after step; a
member's sums add its lanes in episode order; the orchestrator adds the
members' sums in member order, then the generation's to the running sums. No
step depends on the chunk plan, the worker count or arrival order. The
statistics are arithmetic and ``sqrt``, correctly rounded on every CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_STD = 1e-8  # below this a coordinate has not varied: centred, not scaled
PREFIX = "normalization."  # keys of the running statistics in checkpoints, best.npz, lineage


@dataclass(frozen=True)
class Normalizer:
    """A frozen normaliser: ``clip((x - mean) / std, -clip, clip)`` as float32."""

    mean: np.ndarray  # (obs_dim,) float64
    std: np.ndarray  # (obs_dim,) float64, positive
    clip: float = np.inf  # inf: no clipping

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The normalised observations (a new float32 array, ``obs`` untouched)."""
        # From the float32 observation the policy would take raw, whatever the env returned.
        scaled = np.subtract(np.asarray(obs, dtype=np.float32), self.mean, dtype=np.float64)
        np.divide(scaled, self.std, out=scaled)
        if np.isfinite(self.clip):
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        return scaled.astype(np.float32)


@dataclass(frozen=True)
class ObservationStats:
    """Sums of observations: per coordinate their sum and sum of squares, and the count."""

    sum: np.ndarray  # (obs_dim,) float64
    sumsq: np.ndarray  # (obs_dim,) float64
    count: int

    @classmethod
    def zeros(cls, obs_dim: int) -> ObservationStats:
        """No observations yet."""
        return cls(np.zeros(obs_dim), np.zeros(obs_dim), 0)

    def merge(self, other: ObservationStats | None) -> ObservationStats:
        """These sums and ``other``'s (None: nothing more seen)."""
        if other is None:
            return self
        return ObservationStats(
            self.sum + other.sum, self.sumsq + other.sumsq, self.count + other.count
        )

    def normalizer(self, clip: float | None = None) -> Normalizer:
        """The normaliser these statistics give: mean 0 and std 1 before any observation."""
        if self.count == 0:
            mean, std = np.zeros_like(self.sum), np.ones_like(self.sum)
        else:
            mean = self.sum / self.count
            # The population variance; rounding may take it just below zero.
            variance = np.maximum(self.sumsq / self.count - mean * mean, 0.0)
            std = np.sqrt(variance)
            std[std < MIN_STD] = 1.0
        return Normalizer(mean, std, np.inf if clip is None else float(clip))

    def arrays(self, prefix: str = PREFIX) -> dict[str, np.ndarray]:
        """As named ``.npz`` arrays."""
        return {
            f"{prefix}sum": self.sum,
            f"{prefix}sumsq": self.sumsq,
            f"{prefix}count": np.int64(self.count),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str = PREFIX
    ) -> ObservationStats | None:
        """Inverse of :meth:`arrays`; None when ``arrays`` has none (normalisation off)."""
        if f"{prefix}sum" not in arrays:
            return None
        return cls(
            np.asarray(arrays[f"{prefix}sum"], dtype=np.float64),
            np.asarray(arrays[f"{prefix}sumsq"], dtype=np.float64),
            int(arrays[f"{prefix}count"]),
        )


def normalizer_from(arrays: dict[str, np.ndarray]) -> Normalizer | None:
    """The normaliser a ``best.npz`` (or an exported member) plays with; None: none."""
    stats = ObservationStats.from_arrays(arrays)
    if stats is None:
        return None
    clip = float(arrays.get(f"{PREFIX}clip", np.inf))
    return stats.normalizer(clip)


def policy_arrays(stats: ObservationStats, clip: float | None) -> dict[str, np.ndarray]:
    """What ``best.npz`` records beside the parameters: the statistics and the clip."""
    return {**stats.arrays(), f"{PREFIX}clip": np.float64(np.inf if clip is None else clip)}


@dataclass(frozen=True)
class MemberObservations:
    """Per-member sums of a chunk's observations, in the chunk's member order."""

    sum: np.ndarray  # (members, obs_dim) float64
    sumsq: np.ndarray  # (members, obs_dim) float64
    count: np.ndarray  # (members,) int64

    @property
    def nbytes(self) -> int:
        """Payload size."""
        return self.sum.nbytes + self.sumsq.nbytes + self.count.nbytes


def generation_stats(
    size: int, obs_dim: int, parts: list[tuple[np.ndarray, MemberObservations]]
) -> ObservationStats:
    """A generation's sums from its chunks' ``(indices, observations)``: placed in member
    order, then added member after member (missing members add nothing)."""
    sums, squares = np.zeros((size, obs_dim)), np.zeros((size, obs_dim))
    counts = np.zeros(size, dtype=np.int64)
    for indices, seen in parts:
        sums[indices], squares[indices], counts[indices] = seen.sum, seen.sumsq, seen.count
    total, total_squares = np.zeros(obs_dim), np.zeros(obs_dim)
    for member in range(size):  # a fixed order, never a reduction numpy may reorder
        total += sums[member]
        total_squares += squares[member]
    return ObservationStats(total, total_squares, int(counts.sum()))


class ObservationTally:
    """Per-lane float64 sums of the raw observations fed to live lanes, step by step."""

    def __init__(self, lanes: int, obs_dim: int) -> None:
        self.sum = np.zeros((lanes, obs_dim))
        self.sumsq = np.zeros((lanes, obs_dim))
        self.count = np.zeros(lanes, dtype=np.int64)

    def add(self, obs: np.ndarray, alive: np.ndarray) -> None:
        """Count ``obs`` ``(lanes, obs_dim)`` of the lanes ``alive``."""
        # The float32 observation the policy takes (its square is exact in float64); a copy,
        # squared in place below.
        raw = np.asarray(obs, dtype=np.float32).astype(np.float64).reshape(self.sum.shape)
        where = alive[:, None]
        np.add(self.sum, raw, out=self.sum, where=where)
        np.multiply(raw, raw, out=raw)
        np.add(self.sumsq, raw, out=self.sumsq, where=where)
        self.count += alive

    def members(self, episodes: int, failed: list[int]) -> MemberObservations:
        """Each member's sums: its ``episodes`` consecutive lanes in order; those of
        ``failed`` members zero."""
        dim = self.sum.shape[1]
        lane_sum = self.sum.reshape(-1, episodes, dim)
        lane_squares = self.sumsq.reshape(-1, episodes, dim)
        sums, squares = lane_sum[:, 0].copy(), lane_squares[:, 0].copy()
        for episode in range(1, episodes):
            sums += lane_sum[:, episode]
            squares += lane_squares[:, episode]
        counts = self.count.reshape(-1, episodes).sum(axis=1)
        sums[failed], squares[failed], counts[failed] = 0.0, 0.0, 0
        return MemberObservations(sums, squares, counts)
