"""One step of every live lane of CartPole, Pendulum and MountainCar, in numpy.

Each lane computes what gymnasium's single env computes for it: the same IEEE
operations, in the same order, on the same types. ``+``, ``-``, ``*``, ``/`` of numpy
arrays round each element exactly as they round a numpy scalar (no fused multiply-add,
whatever the lane's position); ``cos``, ``sin`` and ``pow`` are libm's scalar functions
called lane by lane (what the single env calls on its float64 scalars), never a SIMD
kernel. A few array operations a step and no compiler to load: these envs start in
milliseconds (numba's first use costs a process about a second).

The kernels take the arrays of :class:`envs.classic.vector.LockstepVectorEnv` and update
them in place; lanes with ``done`` set keep their state (reward 0, not terminated, not
truncated).
"""

from __future__ import annotations

import math

import numpy as np


def libm(function: object, values: np.ndarray) -> np.ndarray:
    """``function`` (``math.cos``, ``math.sin``) of each float64 value, by libm."""
    return np.fromiter(map(function, values.tolist()), dtype=np.float64, count=values.size)


def square(values: np.ndarray) -> np.ndarray:
    """numpy's ``x**2`` of each value as a scalar: libm's ``pow`` (``powf`` for float32),
    which is not always ``x * x`` (the array ``**`` is)."""
    if values.dtype == np.float32:
        return np.array([value**2 for value in values], dtype=np.float32)
    return np.fromiter((math.pow(v, 2.0) for v in values.tolist()), np.float64, values.size)


def _finish(live, terminated, steps, max_steps, done, term, trunc) -> None:
    """The time limit (``TimeLimit``), and which lanes ended."""
    steps += live
    np.logical_and(terminated, live, out=term)
    np.logical_and(steps >= max_steps, live, out=trunc)
    done |= term
    done |= trunc


def cartpole_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """CartPoleEnv.step (Euler integrator); ``params``: gravity, masspole, total_mass,
    length, polemass_length, force_mag, tau, x_threshold, theta_threshold, sutton_barto."""
    gravity, masspole, total_mass, length, polemass_length, force_mag, tau = params[:7].tolist()
    x_threshold, theta_threshold, sutton_barto = params[7], params[8], params[9] != 0.0
    live = ~done
    x, x_dot, theta, theta_dot = state.T
    force = np.where(actions == 1, force_mag, -force_mag)
    costheta, sintheta = libm(math.cos, theta), libm(math.sin, theta)
    temp = (force + polemass_length * np.square(theta_dot) * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - masspole * np.square(costheta) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    stepped = np.stack(
        [x + tau * x_dot, x_dot + tau * xacc, theta + tau * theta_dot, theta_dot + tau * thetaacc],
        axis=1,
    )
    np.copyto(state, stepped, where=live[:, None])
    x, theta = state[:, 0], state[:, 2]
    fell = (x < -x_threshold) | (x > x_threshold) | (theta < -theta_threshold)
    fell |= theta > theta_threshold
    if sutton_barto:
        rewards[:] = np.where(fell, -1.0, 0.0)
    else:
        rewards[:] = 1.0
    rewards[done] = 0.0
    np.copyto(obs, state, where=live[:, None], casting="same_kind")
    _finish(live, fell, steps, max_steps, done, term, trunc)


def pendulum_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """PendulumEnv.step; ``params``: max_torque, max_speed, dt, 3 * g / (2 * l),
    3.0 / (m * l**2). The action is float32, and so is the torque arithmetic on it."""
    max_torque, max_speed, dt, gravity_term, torque_coef = params[:5].tolist()
    live = ~done
    th, thdot = state[:, 0], state[:, 1]
    u = np.clip(actions[:, 0], -max_torque, max_torque)  # float32, as the env's
    normalized = ((th + np.pi) % (2 * np.pi)) - np.pi
    costs = square(normalized) + 0.1 * square(thdot) + 0.001 * square(u)
    newthdot = thdot + (gravity_term * libm(math.sin, th) + torque_coef * u) * dt
    newthdot = np.clip(newthdot, -max_speed, max_speed)
    newth = th + newthdot * dt
    np.copyto(state, np.stack([newth, newthdot], axis=1), where=live[:, None])
    th, thdot = state[:, 0], state[:, 1]
    stepped = np.stack([libm(math.cos, th), libm(math.sin, th), thdot], axis=1)
    np.copyto(obs, stepped, where=live[:, None], casting="same_kind")
    np.copyto(rewards, np.where(live, -costs, 0.0))
    _finish(live, np.zeros_like(live), steps, max_steps, done, term, trunc)


def mountain_car_step(state, actions, done, steps, max_steps, params, obs, rewards, term, trunc):
    """MountainCarEnv.step; ``params``: force, gravity, max_speed, min_position,
    max_position, goal_position, goal_velocity."""
    force, gravity, max_speed, min_position, max_position, goal_position, goal_velocity = params[
        :7
    ].tolist()
    live = ~done
    position, velocity = state[:, 0], state[:, 1]
    velocity = velocity + ((actions - 1) * force + libm(math.cos, 3 * position) * (-gravity))
    velocity = np.clip(velocity, -max_speed, max_speed)
    position = np.clip(position + velocity, min_position, max_position)
    velocity[(position == min_position) & (velocity < 0)] = 0.0
    np.copyto(state, np.stack([position, velocity], axis=1), where=live[:, None])
    position, velocity = state[:, 0], state[:, 1]
    np.copyto(obs, state, where=live[:, None], casting="same_kind")
    np.copyto(rewards, np.where(live, -1.0, 0.0))
    arrived = (position >= goal_position) & (velocity >= goal_velocity)
    _finish(live, arrived, steps, max_steps, done, term, trunc)
