"""One step of every live lane of CartPole, Pendulum, MountainCar and Acrobot, as
compiled scalar loops.

Each lane computes exactly what gymnasium's single env computes for it, in the same
order of the same IEEE operations on the same types: ``cos``, ``sin`` and ``pow`` are
libm's scalar functions (those numpy calls on a float64 scalar), never a SIMD kernel
whose rounding could depend on the CPU or on the lane's position; no fused multiply-add
(numba's default: no fast-math). Where the env computes in float32 (Pendulum's torque,
a Python float times a float32 scalar under numpy's promotion rules), so does the
kernel, with the constant rounded to float32 first. Lanes with ``done`` set are left as
they are (reward 0, not terminated, not truncated).

Every kernel takes ``(state, actions, done, steps, max_steps, params, obs, rewards,
term, trunc)``: the arrays of :class:`envs.classic.vector.LockstepVectorEnv`, updated in
place. State rows are float64 (the single env's state dtype after a step); ``steps``
counts a lane's steps, for the time limit gymnasium's ``TimeLimit`` applies.
"""

from __future__ import annotations

import math

import numba
import numpy as np

PI = math.pi
# Acrobot's constants, as gymnasium's AcrobotEnv has them ("book" dynamics, no torque noise)
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * PI
MAX_VEL_2 = 9 * PI
ACROBOT_DT = 0.2
# numpy computes a float64 or float32 scalar's ``x**2`` with libm's ``pow``, which is not
# always ``x * x`` (0.1% of normal draws differ in the last bit). The exponent is passed in
# at run time so that the compiler cannot rewrite ``pow(x, 2.0)`` as ``x * x`` either.
SQUARE = 2.0  # (envs.classic.vector passes it as a kernel parameter)


@numba.njit(cache=True, nogil=True)
def _limit(steps: np.ndarray, lane: int, max_steps: int, truncated: np.ndarray) -> None:
    steps[lane] += 1
    truncated[lane] = steps[lane] >= max_steps


@numba.njit(cache=True, nogil=True)
def _acrobot_derivatives(y: np.ndarray, out: np.ndarray, two: float) -> None:
    """AcrobotEnv._dsdt ("book"), the same expressions in the same order."""
    m1, m2, l1 = LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1
    lc1, lc2, moi_1, moi_2, g = LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, 9.8
    a = y[4]
    theta1, theta2, dtheta1, dtheta2 = y[0], y[1], y[2], y[3]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * math.cos(theta2)) + moi_1 + moi_2
    d2 = m2 * (lc2**2 + l1 * lc2 * math.cos(theta2)) + moi_2
    phi2 = m2 * lc2 * g * math.cos(theta1 + theta2 - PI / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * math.pow(dtheta2, two) * math.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * math.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * math.cos(theta1 - PI / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * math.pow(dtheta1, two) * math.sin(theta2) - phi2
    ) / (m2 * lc2**2 + moi_2 - math.pow(d2, two) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    out[0], out[1], out[2], out[3], out[4] = dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0


@numba.njit(cache=True, nogil=True)
def _wrap(x: float, low: float, high: float) -> float:
    diff = high - low
    while x > high:
        x = x - diff
    while x < low:
        x = x + diff
    return x


@numba.njit(cache=True, nogil=True)
def _bound(x: float, low: float, high: float) -> float:
    """``min(max(x, low), high)`` with Python's builtins: the first argument wins ties."""
    if low > x:
        x = low
    if high < x:
        x = high
    return x


@numba.njit(cache=True, nogil=True)
def cartpole_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """CartPoleEnv.step (Euler integrator); ``params``: gravity, masspole, total_mass,
    length, polemass_length, force_mag, tau, x_threshold, theta_threshold, sutton_barto."""
    gravity, masspole, total_mass, length = params[0], params[1], params[2], params[3]
    polemass_length, force_mag, tau = params[4], params[5], params[6]
    x_threshold, theta_threshold, sutton_barto = params[7], params[8], params[9] != 0.0
    for lane in range(state.shape[0]):
        rewards[lane], term[lane], trunc[lane] = 0.0, False, False
        if done[lane]:
            continue
        x, x_dot, theta, theta_dot = state[lane, 0], state[lane, 1], state[lane, 2], state[lane, 3]
        force = force_mag if actions[lane] == 1 else -force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
        thetaacc = (gravity * sintheta - costheta * temp) / (
            length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x, x_dot = x + tau * x_dot, x_dot + tau * xacc
        theta, theta_dot = theta + tau * theta_dot, theta_dot + tau * thetaacc
        state[lane, 0], state[lane, 1], state[lane, 2], state[lane, 3] = x, x_dot, theta, theta_dot
        fell = x < -x_threshold or x > x_threshold or theta < -theta_threshold
        fell = fell or theta > theta_threshold
        if sutton_barto:
            rewards[lane] = -1.0 if fell else 0.0
        else:
            rewards[lane] = 1.0
        for k in range(4):
            obs[lane, k] = np.float32(state[lane, k])
        term[lane] = fell
        _limit(steps, lane, max_steps, trunc)
        done[lane] = term[lane] or trunc[lane]


@numba.njit(cache=True, nogil=True)
def pendulum_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """PendulumEnv.step; ``params``: max_torque, max_speed, dt, 3 * g / (2 * l),
    3.0 / (m * l**2), 2.0 (:data:`SQUARE`). The action is float32, and so is the
    arithmetic the env does on it."""
    max_speed, dt, gravity_term, two = params[1], params[2], params[3], params[5]
    max_torque, torque_coef = np.float32(params[0]), np.float32(params[4])
    two_f, cost_u = np.float32(two), np.float32(0.001)
    for lane in range(state.shape[0]):
        rewards[lane], term[lane], trunc[lane] = 0.0, False, False
        if done[lane]:
            continue
        th, thdot = state[lane, 0], state[lane, 1]
        u = actions[lane, 0]
        u = -max_torque if u < -max_torque else u  # np.clip: a NaN stays
        u = max_torque if u > max_torque else u
        normalized = ((th + PI) % (2 * PI)) - PI
        u_squared = np.float32(math.pow(np.float32(u), two_f))  # powf, as numpy's float32 u**2
        costs = math.pow(normalized, two) + 0.1 * math.pow(thdot, two) + cost_u * u_squared
        newthdot = thdot + (gravity_term * math.sin(th) + torque_coef * u) * dt
        newthdot = -max_speed if newthdot < -max_speed else newthdot
        newthdot = max_speed if newthdot > max_speed else newthdot
        newth = th + newthdot * dt
        state[lane, 0], state[lane, 1] = newth, newthdot
        obs[lane, 0], obs[lane, 1] = np.float32(math.cos(newth)), np.float32(math.sin(newth))
        obs[lane, 2] = np.float32(newthdot)
        rewards[lane] = -costs
        _limit(steps, lane, max_steps, trunc)
        done[lane] = trunc[lane]


@numba.njit(cache=True, nogil=True)
def mountain_car_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """MountainCarEnv.step; ``params``: force, gravity, max_speed, min_position,
    max_position, goal_position, goal_velocity."""
    force, gravity, max_speed, min_position = params[0], params[1], params[2], params[3]
    max_position, goal_position, goal_velocity = params[4], params[5], params[6]
    for lane in range(state.shape[0]):
        rewards[lane], term[lane], trunc[lane] = 0.0, False, False
        if done[lane]:
            continue
        position, velocity = state[lane, 0], state[lane, 1]
        velocity = velocity + ((actions[lane] - 1) * force + math.cos(3 * position) * (-gravity))
        velocity = _bound(velocity, -max_speed, max_speed)
        position = _bound(position + velocity, min_position, max_position)
        if position == min_position and velocity < 0:
            velocity = 0.0
        state[lane, 0], state[lane, 1] = position, velocity
        obs[lane, 0], obs[lane, 1] = np.float32(position), np.float32(velocity)
        rewards[lane] = -1.0
        term[lane] = position >= goal_position and velocity >= goal_velocity
        _limit(steps, lane, max_steps, trunc)
        done[lane] = term[lane] or trunc[lane]


@numba.njit(cache=True, nogil=True)
def acrobot_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """AcrobotEnv.step: one RK4 step of ``ACROBOT_DT``; ``params``: 2.0 (:data:`SQUARE`)."""
    two = params[0]
    y0, y, k1, k2, k3, k4 = (
        np.empty(5),
        np.empty(5),
        np.empty(5),
        np.empty(5),
        np.empty(5),
        np.empty(5),
    )
    dt = ACROBOT_DT - 0
    dt2 = dt / 2.0
    for lane in range(state.shape[0]):
        rewards[lane], term[lane], trunc[lane] = 0.0, False, False
        if done[lane]:
            continue
        for k in range(4):
            y0[k] = state[lane, k]
        y0[4] = float(actions[lane] - 1)  # AVAIL_TORQUE = [-1.0, 0.0, +1]
        _acrobot_derivatives(y0, k1, two)
        for k in range(5):
            y[k] = y0[k] + dt2 * k1[k]
        _acrobot_derivatives(y, k2, two)
        for k in range(5):
            y[k] = y0[k] + dt2 * k2[k]
        _acrobot_derivatives(y, k3, two)
        for k in range(5):
            y[k] = y0[k] + dt * k3[k]
        _acrobot_derivatives(y, k4, two)
        for k in range(4):
            state[lane, k] = y0[k] + dt / 6.0 * (k1[k] + 2 * k2[k] + 2 * k3[k] + k4[k])
        state[lane, 0] = _wrap(state[lane, 0], -PI, PI)
        state[lane, 1] = _wrap(state[lane, 1], -PI, PI)
        state[lane, 2] = _bound(state[lane, 2], -MAX_VEL_1, MAX_VEL_1)
        state[lane, 3] = _bound(state[lane, 3], -MAX_VEL_2, MAX_VEL_2)
        s0, s1 = state[lane, 0], state[lane, 1]
        term[lane] = -math.cos(s0) - math.cos(s1 + s0) > 1.0
        rewards[lane] = 0.0 if term[lane] else -1.0
        obs[lane, 0], obs[lane, 1] = np.float32(math.cos(s0)), np.float32(math.sin(s0))
        obs[lane, 2], obs[lane, 3] = np.float32(math.cos(s1)), np.float32(math.sin(s1))
        obs[lane, 4], obs[lane, 5] = np.float32(state[lane, 2]), np.float32(state[lane, 3])
        _limit(steps, lane, max_steps, trunc)
        done[lane] = term[lane] or trunc[lane]
