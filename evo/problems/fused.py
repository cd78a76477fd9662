"""Whole episodes of a lockstep classic-control env, or of the race track, in one
compiled call.

The lockstep loop of :func:`evo.problems.rollout.run_episodes` costs a few Python-level
operations a step (the forward pass's call, the env's step, the bookkeeping of live
lanes): tens of microseconds, against well under a microsecond of arithmetic a lane for
CartPole, and paid by every task a generation is cut into (the race track's up to 1,000
steps). For the envs of :mod:`envs.classic` and the race track's vector env the loop
itself is compiled here: the forward pass of the members with a live episode
(:func:`evo.forward.forward_by_row`), the observation statistics and normalisation, the
action head, and the env's own step kernel, until every lane has ended. A process's
first use without numba's cache compiles the loop (2-3 s); later ones load it.

Bits: the same operations as the Python loop, lane by lane and member by member. A
member's outputs are summed in input order whichever other members are computed with
it, and only members with a live episode are (as :class:`rollout._LiveActor` does);
the normaliser is ``float32((float64(x) - mean) / std)``, clipped in float64 as numpy
clips; each lane's statistics are its own float64 sums, step after step; a lane's
return adds its rewards in step order, and only those of the steps it took. The tests
compare the two loops member by member, lane by lane.
"""

from __future__ import annotations

import numba
import numpy as np

from envs.classic import LockstepVectorEnv
from envs.classic.kernels import acrobot_step, cartpole_step, mountain_car_step, pendulum_step
from envs.racetrack.env import RaceTrackVectorEnv
from envs.racetrack.sim import step_cars
from evo.forward import SQUASH, forward_by_row
from evo.policies import BoundPolicy, MLPSpec
from evo.problems.normalization import Normalizer, ObservationTally

_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
# The loop's parts, compiled into it: one function to compile (numba's fixed cost is a
# few tenths of a second a function, on a process's first use without a cache).
_part = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_part
def _live_members(done, episodes, index):
    """How many members have a live lane; their indices, in order, into ``index``."""
    count = 0
    for member in range(index.size):
        for lane in range(member * episodes, (member + 1) * episodes):
            if not done[lane]:
                index[count] = member
                count += 1
                break
    return count


@_part
def _inputs(obs, done, index, live, episodes, norm, tally, block):
    """The live members' observation blocks, normalised; the live lanes counted."""
    mean, std, clip, normalize = norm
    sums, squares, counts, count = tally
    for i in range(live):
        for e in range(episodes):
            lane = index[i] * episodes + e
            alive = not done[lane]
            if count and alive:
                counts[lane] += 1
            for k in range(obs.shape[1]):
                x = obs[lane, k]
                if count and alive:
                    raw = np.float64(x)
                    sums[lane, k] += raw
                    squares[lane, k] += raw * raw
                if normalize:
                    scaled = (np.float64(x) - mean[k]) / std[k]
                    if clip == clip and clip < np.inf:  # np.clip(scaled, -clip, clip)
                        scaled = -clip if scaled < -clip else scaled
                        scaled = clip if scaled > clip else scaled
                    x = np.float32(scaled)
                block[i, e, k] = x


@_part
def _actions(out, chosen, index, live, episodes, head, discrete, continuous):
    """Each live lane's action from the pass's outputs (``head``: squash mode, the first
    discrete action, whether to clip, the clip's low and high)."""
    squash, start, cut, low, high = head
    for i in range(live):
        for e in range(episodes):
            lane = index[i] * episodes + e
            if squash == 3:
                discrete[lane] = chosen[i, e] + start
                continue
            for j in range(out.shape[2]):
                value = out[i, e, j]
                if cut:  # np.clip in the outputs' dtype: a NaN stays
                    value = low[j] if value < low[j] else value
                    value = high[j] if value > high[j] else value
                continuous[lane, j] = np.float32(value)


@_part
def _play(step, env, params, net, head, episodes, norm, tally, returns, lane_steps):
    """Steps every lane with the env's kernel ``step`` until all have ended (``env``: the
    vector env's state, done, steps, time limit, constants and observations, its lanes
    reset)."""
    state, done, steps, max_steps, constants, obs = env
    layers, activation, squash_low, squash_span = net
    lanes, members, out_dim = done.shape[0], params.shape[0], layers[-1, 3]
    width = max(layers[:, 2].max(), layers[:, 3].max())
    index = np.empty(members, dtype=np.int64)
    discrete = np.zeros(lanes, dtype=np.int64)
    continuous = np.zeros((lanes, out_dim), dtype=np.float32)
    rewards = np.zeros(lanes, dtype=np.float64)
    term, trunc = np.zeros(lanes, dtype=np.bool_), np.zeros(lanes, dtype=np.bool_)
    stepped = np.zeros(lanes, dtype=np.bool_)
    bound = -1  # the live members params_t holds
    params_t = np.empty((params.shape[1], 0), dtype=params.dtype)
    scratch = np.empty((2, 0), dtype=params.dtype)
    block = np.empty((0, episodes, obs.shape[1]), dtype=params.dtype)
    out = np.empty((0, episodes, out_dim), dtype=params.dtype)
    chosen = np.empty((0, episodes), dtype=np.int64)
    while True:
        live = _live_members(done, episodes, index)
        if live == 0:
            return
        if live != bound:  # members only ever end: the same count, the same members
            bound = live
            params_t = np.ascontiguousarray(params[index[:live]].T)
            scratch = np.empty((2, width * live), dtype=params.dtype)
            block = np.empty((live, episodes, obs.shape[1]), dtype=params.dtype)
            out = np.empty((live, episodes, out_dim), dtype=params.dtype)
            chosen = np.empty((live, episodes), dtype=np.int64)
        _inputs(obs, done, index, live, episodes, norm, tally, block)
        forward_by_row(
            block, params_t, layers, activation, head[0], squash_low, squash_span, scratch, out,
            chosen,
        )  # fmt: skip
        _actions(out, chosen, index, live, episodes, head, discrete, continuous)
        for lane in range(lanes):
            stepped[lane] = not done[lane]
        actions = continuous if step is pendulum_step or step is racetrack_step else discrete
        step(state, actions, done, steps, max_steps, constants, obs, rewards, term, trunc)
        for lane in range(lanes):
            if stepped[lane]:
                returns[lane] += rewards[lane]
                lane_steps[lane] += 1


@_part
def racetrack_step(state, actions, done, steps, max_steps, constants, obs, rewards, term, trunc):
    """A step of :class:`envs.racetrack.env.RaceTrackVectorEnv` (its sim's arrays in
    ``state`` and ``constants``, ``steps`` the cars' moves): the actions as float64, the
    sim's compiled pass, then the time limit, as the env's ``step`` does."""
    x, y, heading, speed, steer, quad, arc, progress, alive, finished, crashed, elapsed = state
    planes, following, preceding, vertex, direction, arc_start, arc_length = constants[:7]
    angles, lap_length, goal, moves = constants[7:]
    for lane in range(done.shape[0]):
        moves[lane, 0] = np.float64(actions[lane, 0])
        moves[lane, 1] = np.float64(actions[lane, 1])
    step_cars(
        planes, following, preceding, vertex, direction, arc_start, arc_length,
        angles, lap_length, goal, moves,
        x, y, heading, speed, steer, quad, arc, progress, alive, finished, crashed,
        rewards, obs, steps, term,
    )  # fmt: skip
    elapsed[0] += 1
    for lane in range(done.shape[0]):
        trunc[lane] = elapsed[0] >= max_steps and steps[lane] >= max_steps and not term[lane]
        if trunc[lane]:
            alive[lane] = False
        done[lane] = not alive[lane]


# One compiled loop an env, so that a process compiles (or loads) only the one it plays.
@_kernel
def _play_cartpole(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    _play(cartpole_step, env, params, net, head, episodes, norm, tally, returns, lane_steps)


@_kernel
def _play_pendulum(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    _play(pendulum_step, env, params, net, head, episodes, norm, tally, returns, lane_steps)


@_kernel
def _play_mountain_car(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    _play(mountain_car_step, env, params, net, head, episodes, norm, tally, returns, lane_steps)


@_kernel
def _play_acrobot(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    _play(acrobot_step, env, params, net, head, episodes, norm, tally, returns, lane_steps)


@_kernel
def _play_racetrack(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    _play(racetrack_step, env, params, net, head, episodes, norm, tally, returns, lane_steps)


# The compiled loop of each vector env, by the env's kernel name.
LOOPS = {
    "envs.classic.kernels:cartpole_step": _play_cartpole,
    "envs.classic.kernels:pendulum_step": _play_pendulum,
    "envs.classic.kernels:mountain_car_step": _play_mountain_car,
    "envs.classic.kernels:acrobot_step": _play_acrobot,
}


def plays_fused(vector: object) -> bool:
    """Whether :func:`play` can run this vector env's episodes."""
    if isinstance(vector, RaceTrackVectorEnv):
        return True
    return isinstance(vector, LockstepVectorEnv) and vector.kernel_name in LOOPS


def _reset(vector: LockstepVectorEnv | RaceTrackVectorEnv, seeds: np.ndarray) -> tuple:
    """Reset every lane with its seed; the env's arrays as the compiled loop takes them
    (state, done, steps, time limit, constants, observations)."""
    vector.reset(seed=[int(s) for s in seeds.ravel()])
    if isinstance(vector, LockstepVectorEnv):
        env = (vector.state, vector.done, vector.steps, vector.max_episode_steps, vector.params)
        return (*env, vector.obs)
    sim = vector.sim
    assert sim is not None
    tracks = sim.tracks
    state = (sim.x, sim.y, sim.heading, sim.speed, sim.steer, sim.quad, sim.arc, sim.progress)
    state = (*state, sim.alive, sim.finished, sim.crashed, np.zeros(1, dtype=np.int64))
    constants = (tracks.planes, tracks.following, tracks.preceding, tracks.vertex)
    constants = (*constants, tracks.direction, tracks.arc_start, tracks.arc_length)
    constants = (*constants, sim.angles, sim.lap_length, sim.goal, sim.moves)
    done = np.logical_not(sim.alive)
    return state, done, sim.moved, vector.max_episode_steps, constants, sim.observations


def play(
    vector: LockstepVectorEnv | RaceTrackVectorEnv,
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
    env = _reset(vector, seeds)
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
    if isinstance(vector, RaceTrackVectorEnv):
        _play_racetrack(env, forward.params, net, head, episodes, norm, counting, returns, steps)
        vector.elapsed = int(env[0][-1][0])
    else:
        loop = LOOPS[vector.kernel_name]
        loop(env, forward.params, net, head, episodes, norm, counting, returns, steps)
    return returns.reshape(members, episodes), steps.reshape(members, episodes)
