"""What a locomotion step computes after the physics, for every stepped lane in one
compiled call: the reward (gymnasium's terms, in its order and dtypes), the health
check, the observation, the step count and the time limit.

The same operations as :class:`envs.locomotion.LocomotionVectorEnv`'s whole-array
version, lane by lane: the control cost is the sum of the squared actions in the
actions' dtype, added in order from zero (numpy's sum of fewer than eight values),
times the weight in that dtype (a Python float times a float32 array is float32); the
forward reward and the health bonus in float64; the observation clipped as ``np.clip``
clips (a NaN stays). For the envs without contact forces (Ant's are left to numpy).
"""

from __future__ import annotations

import numba
import numpy as np

HEALTH = {None: 0, "hopper": 1, "walker": 2}
MAX_ACTIONS = 7  # numpy sums eight or more values pairwise, not in order


@numba.njit(cache=True, nogil=True)
def after_step(live, state, x_before, actions, weights, ranges, health, limits, out):
    """``weights``: forward, control (in the actions' dtype), healthy reward, dt and
    whether to terminate when unhealthy; ``ranges``: healthy z, angle and state ranges;
    ``limits``: the observation's first state column, its clip bounds and the time
    limit; ``out``: observations, rewards, terminated, truncated and the step counts."""
    forward_weight, ctrl_weight, healthy_reward, dt, terminate = weights
    z_range, angle_range, state_range = ranges
    skipped, low, high, max_steps = limits
    obs, rewards, terminated, truncated, steps = out
    zero = ctrl_weight - ctrl_weight  # +0 in the actions' dtype
    for i in range(live.size):
        lane = live[i]
        x_velocity = (state[lane, 0] - x_before[i]) / dt
        forward = forward_weight * x_velocity
        squares = zero
        for j in range(actions.shape[1]):
            squares += actions[lane, j] * actions[lane, j]
        ctrl_cost = ctrl_weight * squares
        if health == 0:
            rewards[lane] = forward - ctrl_cost
        else:
            z, angle = state[lane, 1], state[lane, 2]
            healthy = z_range[0] < z and z < z_range[1]
            healthy = healthy and angle_range[0] < angle and angle < angle_range[1]
            if health == 1:  # Hopper: every coordinate of state_vector()[2:]
                for k in range(2, state.shape[1]):
                    value = state[lane, k]
                    healthy = healthy and state_range[0] < value and value < state_range[1]
            terminated[lane] = terminate and not healthy
            bonus = (1.0 if healthy else 0.0) * healthy_reward
            rewards[lane] = (forward + bonus) - ctrl_cost
        for k in range(skipped, state.shape[1]):
            value = state[lane, k]
            value = low[k - skipped] if value < low[k - skipped] else value
            obs[lane, k - skipped] = high[k - skipped] if value > high[k - skipped] else value
        steps[lane] += 1
        truncated[lane] = steps[lane] >= max_steps


def fits(task_health: str | None, contacts: bool, actions: np.ndarray) -> bool:
    """Whether :func:`after_step` computes this env's step for these actions."""
    return (
        not contacts
        and task_health in HEALTH
        and actions.ndim == 2
        and actions.shape[1] <= MAX_ACTIONS
        and actions.dtype in (np.float32, np.float64)
    )
