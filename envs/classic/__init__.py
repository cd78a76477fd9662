"""Lockstep vector versions of gymnasium's classic-control envs (CartPole, Pendulum,
MountainCar, Acrobot): lane ``i`` plays the single env's episode of its own reset seed,
bit for bit (see :mod:`envs.classic.vector`)."""

from envs.classic.vector import LOCKSTEP, LockstepVectorEnv

__all__ = ["LOCKSTEP", "LockstepVectorEnv"]
