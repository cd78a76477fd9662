"""The compiled lockstep loop of :mod:`evo.problems.fused`: the parts every env's loop
shares (the live members, their inputs, the forward pass, the actions, the returns), to
be compiled with an env's step kernel.
"""

from __future__ import annotations

import numba
import numpy as np

from evo.forward import forward_by_row

loop_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
# The loop's parts, compiled into it: one function to compile (numba's fixed cost is a
# few tenths of a second a function, on a process's first use without a cache).
loop_part = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@loop_part
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


@loop_part
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


@loop_part
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


@loop_part
def action_arrays(env, net):
    """Zeroed discrete actions ``(lanes,)`` and continuous ones ``(lanes, outputs)``."""
    lanes, out_dim = env[1].shape[0], net[0][-1, 3]
    return np.zeros(lanes, dtype=np.int64), np.zeros((lanes, out_dim), dtype=np.float32)


@loop_part
def play_lanes(
    step,
    actions,
    discrete,
    continuous,
    env,
    params,
    net,
    head,
    episodes,
    norm,
    tally,
    returns,
    lane_steps,
):
    """Steps every lane with the env's kernel ``step`` until all have ended (``env``: the
    vector env's state, done, steps, time limit, constants and observations, its lanes
    reset). The pass writes the lanes' actions into ``discrete`` or ``continuous`` (see
    :func:`action_arrays`); ``step`` is given ``actions``, the one of them it takes.
    The lanes' returns and steps are added to ``returns`` and ``lane_steps``."""
    state, done, steps, max_steps, constants, obs = env
    layers, activation, squash_low, squash_span = net
    lanes, members, out_dim = done.shape[0], params.shape[0], layers[-1, 3]
    width = max(layers[:, 2].max(), layers[:, 3].max())
    index = np.empty(members, dtype=np.int64)
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
        step(state, actions, done, steps, max_steps, constants, obs, rewards, term, trunc)
        for lane in range(lanes):
            if stepped[lane]:
                returns[lane] += rewards[lane]
                lane_steps[lane] += 1
