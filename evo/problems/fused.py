"""Whole episodes of a lockstep classic-control env, or of the race track, in one
compiled call.

The lockstep loop of :func:`evo.problems.rollout.run_episodes` costs a few Python-level
operations a step (the forward pass's call, the env's step, the bookkeeping of live
lanes): tens of microseconds, against well under a microsecond of arithmetic a lane for
CartPole, and paid by every task a generation is cut into (the race track's up to 1,000
steps). For the envs of :mod:`envs.classic` and the race track's vector env the loop
itself is compiled (:mod:`evo.problems.compiled_loop`; the race track's step is in
:mod:`evo.problems.fused_racetrack`): the forward pass of the members with a live
episode (:func:`evo.forward.forward_by_row`), the observation statistics and
normalisation, the action head, and the env's own step kernel, until every lane has
ended. A process's first use without numba's cache compiles the loop (2-3 s); later
ones load it.

Bits: the same operations as the Python loop, lane by lane and member by member. A
member's outputs are summed in input order whichever other members are computed with
it, and only members with a live episode are (as :class:`rollout._LiveActor` does);
the normaliser is ``float32((float64(x) - mean) / std)``, clipped in float64 as numpy
clips; each lane's statistics are its own float64 sums, step after step; a lane's
return adds its rewards in step order, and only those of the steps it took. The tests
compare the two loops member by member, lane by lane.
"""

from __future__ import annotations

import numpy as np
from gymnasium.vector import VectorEnv

from envs.classic import LockstepVectorEnv
from envs.classic.kernels import acrobot_step, cartpole_step, mountain_car_step, pendulum_step
from evo.forward import SQUASH
from evo.policies import BoundPolicy, MLPSpec
from evo.problems.compiled_loop import action_arrays, loop_kernel, play_lanes
from evo.problems.normalization import Normalizer, ObservationTally


# One compiled loop an env, so that a process compiles (or loads) only the one it plays.
@loop_kernel
def _play_cartpole(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    discrete, continuous = action_arrays(env, net)
    play_lanes(
        cartpole_step, discrete, discrete, continuous,
        env, params, net, head, episodes, norm, tally, returns, lane_steps,
    )  # fmt: skip


@loop_kernel
def _play_pendulum(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    discrete, continuous = action_arrays(env, net)
    play_lanes(
        pendulum_step, continuous, discrete, continuous,
        env, params, net, head, episodes, norm, tally, returns, lane_steps,
    )  # fmt: skip


@loop_kernel
def _play_mountain_car(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    discrete, continuous = action_arrays(env, net)
    play_lanes(
        mountain_car_step, discrete, discrete, continuous,
        env, params, net, head, episodes, norm, tally, returns, lane_steps,
    )  # fmt: skip


@loop_kernel
def _play_acrobot(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    discrete, continuous = action_arrays(env, net)
    play_lanes(
        acrobot_step, discrete, discrete, continuous,
        env, params, net, head, episodes, norm, tally, returns, lane_steps,
    )  # fmt: skip


# The compiled loop of each vector env, by the env's kernel name.
LOOPS = {
    "envs.classic.kernels:cartpole_step": _play_cartpole,
    "envs.classic.kernels:pendulum_step": _play_pendulum,
    "envs.classic.kernels:mountain_car_step": _play_mountain_car,
    "envs.classic.kernels:acrobot_step": _play_acrobot,
}


def plays_fused(vector: object) -> bool:
    """Whether :func:`play` can run this vector env's episodes."""
    if _race_track(vector):
        return True
    return isinstance(vector, LockstepVectorEnv) and vector.kernel_name in LOOPS


def _race_track(vector: object) -> bool:
    # Looked at by module first: a process that plays no race track never imports it.
    if type(vector).__module__ != "envs.racetrack.env":
        return False
    from envs.racetrack.env import RaceTrackVectorEnv

    return type(vector) is RaceTrackVectorEnv  # a subclass may step otherwise


def play(
    vector: VectorEnv,
    spec: MLPSpec,
    params: np.ndarray,
    seeds: np.ndarray,
    normalizer: Normalizer | None = None,
    tally: ObservationTally | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and steps ``(members, episodes)`` of every member's episodes of ``seeds``
    ``(members, episodes)`` on ``vector`` (one lane each, lane = member * episodes +
    episode), exactly as :func:`evo.problems.rollout.run_episodes` plays them."""
    members, episodes = seeds.shape
    lanes = members * episodes
    policy = BoundPolicy(spec, params)
    forward = policy.forward_pass
    dtype = forward.params.dtype
    racetrack = None
    if _race_track(vector):
        from evo.problems import fused_racetrack as racetrack

        env = racetrack.reset(vector, seeds)
    else:
        assert isinstance(vector, LockstepVectorEnv)
        vector.reset(seed=[int(s) for s in seeds.ravel()])
        env = (vector.state, vector.done, vector.steps, vector.max_episode_steps, vector.params)
        env = (*env, vector.obs)
    discrete = spec.action == "discrete"
    cut = not discrete and spec.bounds == "clip" and bool(spec.action_low)
    if discrete:
        squash = SQUASH["argmax"]
    elif spec.bounds != "tanh":  # the outputs themselves, cut at the bounds or not (raw)
        squash = SQUASH["none"]
    else:
        squash = SQUASH["bounds" if forward.low.size else "tanh"]
    low = np.asarray(spec.action_low if cut else (), dtype=dtype)
    high = np.asarray(spec.action_high if cut else (), dtype=dtype)
    head = (squash, spec.action_start, cut, low, high)
    net = (forward.layers, forward.activation, forward.low, forward.span)
    if normalizer is None:
        norm = (np.zeros(0), np.ones(0), np.inf, False)
    else:
        norm = (normalizer.mean, normalizer.std, float(normalizer.clip), True)
    if tally is None:
        empty = np.zeros((0, 0))
        counting = (empty, empty, np.zeros(0, dtype=np.int64), False)
    else:
        counting = (tally.sum, tally.sumsq, tally.count, True)
    returns = np.zeros(lanes, dtype=np.float64)
    steps = np.zeros(lanes, dtype=np.int64)
    args = (forward.params, net, head, episodes, norm, counting, returns, steps)
    if racetrack is not None:
        racetrack.play(vector, env, *args)
    else:
        LOOPS[vector.kernel_name](env, *args)
    return returns.reshape(members, episodes), steps.reshape(members, episodes)
