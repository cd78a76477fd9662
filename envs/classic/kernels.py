"""One step of every live Acrobot lane, as a compiled scalar loop.

Each lane computes exactly what gymnasium's AcrobotEnv computes for it, in the same
order of the same IEEE operations: ``cos``, ``sin`` and ``pow`` are libm's scalar
functions (those numpy calls on a float64 scalar), never a SIMD kernel whose rounding
could depend on the CPU or on the lane's position; no fused multiply-add (numba's
default: no fast-math). Its RK4 step makes some forty libm calls a lane, too many to
make lane by lane from Python (:mod:`envs.classic.arrays` does that for the other
classic-control envs). Lanes with ``done`` set are left as they are (reward 0, not
terminated, not truncated).

State rows are float64 (the single env's state dtype after a step); ``steps`` counts a
lane's steps, for the time limit gymnasium's ``TimeLimit`` applies.
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
