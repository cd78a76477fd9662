"""Every random draw of a run derives from the run seed through ``numpy.random.SeedSequence``.

Streams are told apart by the first word of the spawn key, so the strategy's
draws, the training episodes, the stop confirmations and the initial parameters
never share randomness, and nothing depends on worker identity, task order or
time. (The shared noise table of :mod:`evo.noise` is the same for every run; which
slices of it a generation's members get is drawn from the strategy's stream.) A
generation's training episodes are hashed from two keys of its SeedSequence, all
members at once. Episode seeds are 32-bit and their top two bits say what they are for:
training ``0x``, confirmation of a stop ``10``, final evaluation ``11``, so the
three sets are disjoint by construction. The final evaluation's seeds are a
fixed held-out range, independent of the run seed.
"""

from __future__ import annotations

import numpy as np

STRATEGY_STREAM = 1
EPISODE_STREAM = 2
INIT_STREAM = 4
CONFIRM_STREAM = 5
MINIBATCH_STREAM = 6  # the training examples of each step of a data run (evo.datasets)
SHARD_STREAM = 7  # gradient mode: each data shard's order of examples, per epoch
ACTION_STREAM = 8  # policy gradient: the sampled actions of each training episode
PPO_STREAM = 9  # PPO: the order of each shard's steps in each pass

_COMMON = 2**32  # in place of a member index: no member has it

_TRAINING_MASK = np.uint32(0x7FFF_FFFF)
_LOW_30_BITS = np.uint32(0x3FFF_FFFF)
_CONFIRM_TAG = np.uint32(0x8000_0000)
_FINAL_TAG = np.uint32(0xC000_0000)


def strategy_rng(seed: int, generation: int) -> np.random.Generator:
    """The strategy's random generator for one generation (ask draws from it)."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(STRATEGY_STREAM, generation)))
    )


def init_rng(seed: int) -> np.random.Generator:
    """The generator for the initial parameters."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(INIT_STREAM,)))
    )


def _seed32(seed: int, key: tuple[int, ...]) -> np.uint32:
    return np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint32)[0]


_MIX1 = np.uint64(0xBF58_476D_1CE4_E5B9)
_MIX2 = np.uint64(0x94D0_49BB_1331_11EB)


def _mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014): a bijection of uint64 whose
    every output bit depends on every input bit (wrapping integer arithmetic only)."""
    values = (values ^ (values >> np.uint64(30))) * _MIX1
    values = (values ^ (values >> np.uint64(27))) * _MIX2
    return values ^ (values >> np.uint64(31))


def episode_seeds(
    seed: int, generation: int, members: np.ndarray, episodes: int, common: bool = False
) -> np.ndarray:
    """Training episode seeds, ``(members, episodes)``, from (seed, generation, member, episode).

    The generation's two 64-bit keys come from ``SeedSequence(seed, (EPISODE_STREAM,
    generation))``; each (member, episode) is hashed with them by splitmix64, all members
    at once. With ``common``, every member gets the generation's same episodes (common
    random numbers: members are ranked on equal terms), hashed as one member that no
    index can be.
    """
    members = np.asarray(members, dtype=np.int64).astype(np.uint64)
    if common:
        members = np.full(len(members), _COMMON, dtype=np.uint64)
    keys = np.random.SeedSequence(seed, spawn_key=(EPISODE_STREAM, generation)).generate_state(
        2, np.uint64
    )
    per_member = _mix64(members ^ keys[0])
    per_episode = np.arange(episodes, dtype=np.uint64) + keys[1]
    mixed = _mix64(per_member[:, None] ^ _mix64(per_episode)[None, :])
    return (mixed >> np.uint64(32)).astype(np.uint32) & _TRAINING_MASK


def final_seeds(episodes: int) -> np.ndarray:
    """The held-out episodes of the final evaluation: the same for every run, so runs
    (of any seed, strategy or config) are compared on the same episodes; disjoint
    from every training and confirmation seed."""
    return np.arange(episodes, dtype=np.uint32) | _FINAL_TAG


def confirm_seeds(seed: int, generation: int, episodes: int) -> np.ndarray:
    """Seeds for confirming a stop at ``generation``: disjoint from training and final ones."""
    out = np.array(
        [_seed32(seed, (CONFIRM_STREAM, generation, e)) for e in range(episodes)], dtype=np.uint32
    )
    return (out & _LOW_30_BITS) | _CONFIRM_TAG


def stream_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    """A generator for one named draw: (run seed, stream, key...)."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, *key)))
    )
