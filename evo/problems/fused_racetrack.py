"""The race track's episodes in the compiled loop of :mod:`evo.problems.fused`
(:mod:`evo.problems.compiled_loop`).

Its own module so that only a process that plays the race track loads it (and the
simulator's kernels it calls). The step is :class:`envs.racetrack.env.RaceTrackVectorEnv`'s:
the actions as float64, the simulator's compiled pass over the cars
(:func:`envs.racetrack.sim.step_cars`), then the time limit; the tests compare its
episodes with gymnasium's single race-track env bit for bit.
"""

from __future__ import annotations

import numpy as np

from envs.racetrack.env import RaceTrackVectorEnv
from envs.racetrack.sim import step_cars
from evo.problems.compiled_loop import action_arrays, loop_kernel, loop_part, play_lanes


@loop_part
def racetrack_step(state, actions, done, steps, max_steps, constants, obs, rewards, term, trunc):
    """One step of every car (``state`` and ``constants``: the simulator's arrays and the
    steps since the reset, ``steps`` the cars' moves); a stopped car stays as it is."""
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


@loop_kernel
def _play_racetrack(env, params, net, head, episodes, norm, tally, returns, lane_steps):
    discrete, continuous = action_arrays(env, net)
    play_lanes(
        racetrack_step, continuous, discrete, continuous,
        env, params, net, head, episodes, norm, tally, returns, lane_steps,
    )  # fmt: skip


def reset(vector: RaceTrackVectorEnv, seeds: np.ndarray) -> tuple:
    """Every car reset with its seed; the env's arrays as the compiled loop takes them
    (state, done, steps, time limit, constants, observations)."""
    vector.reset(seed=[int(s) for s in seeds.ravel()])
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


def play(vector: RaceTrackVectorEnv, env: tuple, *args: object) -> None:
    """The compiled loop on ``env`` (from :func:`reset`); ``args`` as
    :func:`evo.problems.fused.play` passes them."""
    _play_racetrack(env, *args)
    vector.elapsed = int(env[0][-1][0])
