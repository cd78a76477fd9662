"""The batched race-car simulator: N cars, each on its own track, stepped in lockstep.

Car: a kinematic bicycle (x, y, heading, speed) with steering and throttle/brake
in [-1, 1], quadratic drag, a speed limit, and a lateral-grip limit: the path
curvature is capped at ``grip / speed^2``, so a car too fast for a bend
understeers towards the outside and must brake for hairpins.

Geometry is one operation, :func:`walk`: follow straight lines through the quad
strip of a track (see :mod:`envs.racetrack.track`) until each line leaves through
a boundary edge or reaches its length. A line's work is proportional to the quads
it crosses (one or two for most rays), and the walk is a small compiled loop
(numba), since stepping lines quad by quad in numpy is bound by per-call overhead.
Rays are lines of the sensor's range from the car; a move is a line from the old
position to the new one, which stays on the track (and lands in a known quad) or
crosses the boundary (the car is off the track). Finished cars are frozen.

A step is one compiled pass over the cars (move, score, cast the rays), not a chain
of small array operations: the fixed cost of stepping a batch is a few microseconds,
so splitting a population into batches on several workers loses little.

Every operation is elementwise over cars (or over each car's own rays), so a car's
trajectory does not depend on which other cars share the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from envs.racetrack import trig
from envs.racetrack.track import FRONT, Track

DT = 0.1  # s per step
WHEELBASE = 2.5  # m
MAX_STEER = 0.45  # rad
MAX_ACCEL = 6.0  # m/s^2 at full throttle
MAX_BRAKE = 12.0  # m/s^2 at full brake
MAX_SPEED = 30.0  # m/s
DRAG = MAX_ACCEL / MAX_SPEED**2  # full throttle just holds top speed
GRIP = 9.0  # m/s^2 of lateral acceleration before the tyres slide
RAY_RANGE = 50.0  # m
NUM_RAYS = 9
RAY_SPREAD = np.pi / 2  # rays from -90 to +90 degrees around the heading
LAP_REWARD = 1000.0
TIME_PENALTY = 0.1  # per step


def ray_angles(num_rays: int = NUM_RAYS) -> np.ndarray:
    """Ray directions relative to the heading, left (+) to right (-); one ray looks ahead."""
    return np.zeros(1) if num_rays == 1 else np.linspace(RAY_SPREAD, -RAY_SPREAD, num_rays)


@dataclass(frozen=True, eq=False)
class TrackSet:
    """Several tracks' quad strips in one flat array (a car's quad is a global index)."""

    tracks: tuple[Track, ...]
    planes: np.ndarray  # (3, 4, Q): (nx, ny, c) of each quad's edges LEFT, RIGHT, FRONT, BACK
    following: np.ndarray  # (Q,) global index of the next quad around the lap
    preceding: np.ndarray  # (Q,)
    vertex: np.ndarray  # (Q, 2) centreline vertex at the start of each quad
    direction: np.ndarray  # (Q, 2) unit centreline direction along each quad
    arc_start: np.ndarray  # (Q,) distance along the lap to the quad's start
    arc_length: np.ndarray  # (Q,) centreline length of the quad
    first: np.ndarray  # (T,) global index of each track's quad 0

    @classmethod
    def of(cls, tracks: list[Track] | tuple[Track, ...]) -> TrackSet:
        """Stack the tracks' strips."""
        tracks = tuple(tracks)
        sizes = np.array([t.num_quads for t in tracks])
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        planes = np.concatenate([t.planes for t in tracks])
        local = np.concatenate([np.arange(n) for n in sizes])
        start = np.repeat(first, sizes)
        size = np.repeat(sizes, sizes)
        vertex = np.concatenate([t.centre for t in tracks])
        following_vertex = np.concatenate([np.roll(t.centre, -1, axis=0) for t in tracks])
        direction = following_vertex - vertex
        arc_length = np.linalg.norm(direction, axis=1)
        direction /= arc_length[:, None]
        return cls(
            tracks=tracks,
            planes=np.ascontiguousarray(planes.transpose(2, 1, 0)),
            following=start + (local + 1) % size,
            preceding=start + (local - 1) % size,
            vertex=vertex,
            direction=direction,
            arc_start=np.concatenate([t.arc[:-1] for t in tracks]),
            arc_length=arc_length,
            first=first,
        )


def walk(
    tracks: TrackSet,
    x: np.ndarray,
    y: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    quad: np.ndarray,
    length: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Follow lines from points ``(x, y)`` (shape ``(n,)``) in directions ``(dx, dy)``.

    ``dx, dy`` are unit vectors of shape ``(n, k)``: ``k`` lines per point, all
    starting in the point's ``quad``; each line runs for ``length`` at most (a
    number, or one per point). Returns ``(t, hit, quad)``, each ``(n, k)``: where
    the line stopped, whether it stopped on a boundary (left or right edge) rather
    than at its length, and the quad it stopped in.
    """
    n, k = dx.shape
    length = np.broadcast_to(np.asarray(length, dtype=np.float64), (n,))
    t = np.empty((n, k))
    hit = np.empty((n, k), dtype=np.bool_)
    stop = np.empty((n, k), dtype=np.int64)
    _walk_kernel(
        tracks.planes,
        tracks.following,
        tracks.preceding,
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(dx, dtype=np.float64),
        np.ascontiguousarray(dy, dtype=np.float64),
        np.ascontiguousarray(quad, dtype=np.int64),
        np.ascontiguousarray(length),
        t,
        hit,
        stop,
    )
    return t, hit, stop


@numba.njit(cache=True, nogil=True)
def _walk_kernel(
    planes, following, preceding, x, y, dx, dy, quad, length, t_out, hit_out, quad_out
):
    n, k = dx.shape
    for i in range(n):
        for j in range(k):
            t_out[i, j], hit_out[i, j], quad_out[i, j] = _walk_line(
                planes, following, preceding, x[i], y[i], dx[i, j], dy[i, j], quad[i], length[i]
            )


@numba.njit(cache=True, nogil=True)
def _walk_line(planes, following, preceding, x, y, dx, dy, quad, length):
    """One line: it leaves its convex quad through the outward-facing edge whose supporting
    line it meets first (ties to the lower edge: left, right, front, back); through a
    cross-edge it enters the neighbouring quad, through a side edge it hits the boundary."""
    q = quad
    while True:
        best, edge = np.inf, -1
        for e in range(4):
            nx, ny = planes[0, e, q], planes[1, e, q]
            facing = nx * dx + ny * dy
            if facing > 1e-12:
                t = (planes[2, e, q] - nx * x - ny * y) / facing
                if t < best:
                    best, edge = t, e
        if best >= length:
            return length, False, q
        if edge < FRONT:  # LEFT or RIGHT
            return best, True, q
        q = following[q] if edge == FRONT else preceding[q]


# The per-step kernels are compiled without fastmath: LLVM neither reassociates nor fuses
# a * b + c into one rounding (an FMA, which only some CPUs have), and sin, cos, tan and
# atan2 are envs.racetrack.trig's, not libm's (whose FMA variants are chosen by CPU), so
# a trajectory is the same bits on every CPU. The clip helpers copy numpy's NaN and
# signed-zero handling.


@numba.njit(cache=True, nogil=True)
def _clip(value, low, high):
    """``np.clip(values, low, high)`` of one value, for constant bounds: a NaN passes
    through and a tie (0.0 against -0.0) keeps the value, as numpy's code for that case does."""
    value = value if np.isnan(value) or value >= low else low
    return value if np.isnan(value) or value <= high else high


@numba.njit(cache=True, nogil=True)
def _clip_array_bounds(value, low, high):
    """``np.clip(values, lows, highs)`` of one value, for bounds given per element: numpy's
    ``min(max(value, low), high)`` where max and min return their first argument if that
    is NaN, else the larger (smaller), the bound on a tie. A NaN bound is returned as is."""
    value = value if np.isnan(value) or value > low else low
    return value if np.isnan(value) or value < high else high


@numba.njit(cache=True, nogil=True)
def _arc_at(vertex, direction, arc_start, arc_length, quad, x, y):
    """Position along the lap: the quad's start plus the projection onto its centreline."""
    offset_x, offset_y = x - vertex[quad, 0], y - vertex[quad, 1]
    along = offset_x * direction[quad, 0] + offset_y * direction[quad, 1]
    return arc_start[quad] + _clip_array_bounds(along, 0.0, arc_length[quad])


@numba.njit(cache=True, nogil=True)
def _observe_car(planes, following, preceding, angles, x, y, heading, speed, steer, quad, obs):
    """Write one car's observation into ``obs``: its rays' ranges, speed and steering."""
    k = angles.size
    for j in range(k):
        angle = heading + angles[j]
        t, _, _ = _walk_line(
            planes, following, preceding, x, y, trig.cos(angle), trig.sin(angle), quad, RAY_RANGE
        )
        obs[j] = t / RAY_RANGE
    obs[k] = speed / MAX_SPEED
    obs[k + 1] = steer


@numba.njit(cache=True, nogil=True)
def step_cars(
    planes, following, preceding, vertex, direction, arc_start, arc_length,
    angles, lap_length, goal, actions,
    x, y, heading, speed, steer, quad, arc, progress, alive, finished, crashed,
    rewards, obs, steps, terminated,
):  # fmt: skip
    """Advance each live car (see :meth:`RaceSim.step`), then observe it if still live;
    ``steps`` counts the moves of each car, ``terminated`` is crashed or finished."""
    for i in range(alive.size):
        if not alive[i]:
            rewards[i] = 0.0
            terminated[i] = crashed[i] or finished[i]
            continue
        steps[i] += 1
        tan_steering = trig.tan(_clip(actions[i, 0], -1.0, 1.0) * MAX_STEER)
        throttle = _clip(actions[i, 1], -1.0, 1.0)
        accel = (throttle * MAX_ACCEL if throttle >= 0 else throttle * MAX_BRAKE) - DRAG * (
            speed[i] * speed[i]
        )
        new_speed = _clip(speed[i] + accel * DT, 0.0, MAX_SPEED)
        curvature = tan_steering / WHEELBASE
        speed_squared = new_speed * new_speed  # np.maximum(., 1e-9) keeps a NaN
        grip_limit = GRIP / (
            speed_squared if np.isnan(speed_squared) or speed_squared > 1e-9 else 1e-9
        )
        # Understeer past the grip:
        curvature = _clip_array_bounds(curvature, -grip_limit, grip_limit)
        new_heading = heading[i] + new_speed * curvature * DT
        dx, dy = trig.cos(new_heading), trig.sin(new_heading)
        t, off_track, new_quad = _walk_line(
            planes, following, preceding, x[i], y[i], dx, dy, quad[i], new_speed * DT
        )
        quad[i] = new_quad
        x[i], y[i] = x[i] + t * dx, y[i] + t * dy
        heading[i], speed[i], steer[i] = new_heading, new_speed, _clip(actions[i, 0], -1.0, 1.0)
        new_arc = _arc_at(vertex, direction, arc_start, arc_length, quad[i], x[i], y[i])
        lap = lap_length[i]
        delta = (new_arc - arc[i] + 0.5 * lap) % lap - 0.5 * lap  # reversing is negative
        arc[i] = new_arc
        progress[i] += delta
        crashed[i] = off_track
        finished[i] = progress[i] >= goal[i] and not off_track
        alive[i] = not (off_track or progress[i] >= goal[i])
        terminated[i] = crashed[i] or finished[i]
        rewards[i] = LAP_REWARD * delta / lap - TIME_PENALTY
        if alive[i]:
            _observe_car(
                planes, following, preceding, angles,
                x[i], y[i], heading[i], speed[i], steer[i], quad[i], obs[i],
            )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _observe_kernel(
    planes, following, preceding, angles, x, y, heading, speed, steer, quad, alive, obs
):
    for i in range(alive.size):
        if alive[i]:
            _observe_car(
                planes, following, preceding, angles,
                x[i], y[i], heading[i], speed[i], steer[i], quad[i], obs[i],
            )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _arc_kernel(vertex, direction, arc_start, arc_length, cars, x, y, quad, arc):
    for i in cars:
        arc[i] = _arc_at(vertex, direction, arc_start, arc_length, quad[i], x[i], y[i])


class RaceSim:
    """N cars, car ``i`` on ``tracks.tracks[track_of[i]]``, stepped together."""

    def __init__(
        self, tracks: TrackSet, track_of: np.ndarray, laps: int = 1, num_rays: int = NUM_RAYS
    ):
        self.tracks = tracks
        self.track_of = np.asarray(track_of, dtype=np.int64)
        self.laps = laps
        self.angles = ray_angles(num_rays)
        n = len(self.track_of)
        self.lap_length = np.array([tracks.tracks[i].length for i in self.track_of])
        self.x, self.y = np.zeros(n), np.zeros(n)
        self.heading, self.speed, self.steer = np.zeros(n), np.zeros(n), np.zeros(n)
        self.quad = np.zeros(n, dtype=np.int64)
        self.arc = np.zeros(n)  # position along the lap (m), in [0, lap)
        self.progress = np.zeros(n)  # signed distance driven along the track (m)
        self.alive = np.zeros(n, dtype=bool)
        self.finished = np.zeros(n, dtype=bool)  # completed the laps
        self.crashed = np.zeros(n, dtype=bool)  # left the track
        self.observations = np.zeros((n, self.obs_dim), dtype=np.float32)  # frozen cars keep theirs
        self.goal = laps * self.lap_length  # progress that completes the laps
        self.moved = np.zeros(n, dtype=np.int64)  # steps each car has moved since its reset
        # The actions as the compiled pass reads them, and what it writes besides the cars'
        # state, kept between steps.
        self.moves, self._rewards = np.zeros((n, 2)), np.zeros(n)
        self._terminated = np.zeros(n, dtype=bool)

    @property
    def num_cars(self) -> int:
        """Cars in the batch."""
        return len(self.track_of)

    @property
    def obs_dim(self) -> int:
        """Rays, speed, steering."""
        return len(self.angles) + 2

    def reset(self, cars: np.ndarray | None = None) -> np.ndarray:
        """Put cars (all by default) on their start line, at rest; return all observations."""
        cars = np.arange(self.num_cars) if cars is None else np.arange(self.num_cars)[cars]
        first = self.tracks.first[self.track_of[cars]]
        start = self.tracks.vertex[first] + 0.5 * (
            self.tracks.arc_length[first, None] * self.tracks.direction[first]
        )
        self.x[cars], self.y[cars] = start[:, 0], start[:, 1]
        self.heading[cars] = trig.atan2_array(
            self.tracks.direction[first, 1], self.tracks.direction[first, 0]
        )
        self.speed[cars] = 0.0
        self.steer[cars] = 0.0
        self.quad[cars] = first
        tracks = self.tracks
        _arc_kernel(
            tracks.vertex, tracks.direction, tracks.arc_start, tracks.arc_length,
            cars, self.x, self.y, self.quad, self.arc,
        )  # fmt: skip
        self.progress[cars] = 0.0
        self.moved[cars] = 0
        self.alive[cars] = True
        self.finished[cars] = False
        self.crashed[cars] = False
        return self.observe()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every live car by one step; returns (observations, rewards, terminated).

        Frozen cars (finished or off the track) get reward 0 and keep their state.
        One compiled pass moves, scores and observes the cars: a step's cost is the
        cars' work, not a sequence of small array operations.
        """
        obs, rewards, _ = self.advance(actions)
        return obs, rewards, ~self.alive

    def advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`step`, returning (observations, rewards, crashed or finished)."""
        n, tracks = len(self.track_of), self.tracks
        np.copyto(self.moves, np.reshape(actions, (n, 2)), casting="unsafe")  # as float64
        step_cars(
            tracks.planes, tracks.following, tracks.preceding,
            tracks.vertex, tracks.direction, tracks.arc_start, tracks.arc_length,
            self.angles, self.lap_length, self.goal, self.moves,
            self.x, self.y, self.heading, self.speed, self.steer, self.quad,
            self.arc, self.progress, self.alive, self.finished, self.crashed,
            self._rewards, self.observations, self.moved, self._terminated,
        )  # fmt: skip
        return self.observations.copy(), self._rewards.copy(), self._terminated.copy()

    def ranges(self, cars: np.ndarray | None = None) -> np.ndarray:
        """Distances (m) along each car's rays to the track boundary, capped at the range."""
        cars = np.arange(self.num_cars) if cars is None else np.asarray(cars)
        angle = self.heading[cars, None] + self.angles[None, :]
        t, _, _ = walk(
            self.tracks,
            self.x[cars],
            self.y[cars],
            trig.cos_array(angle),
            trig.sin_array(angle),
            self.quad[cars],
            RAY_RANGE,
        )
        return t

    def observe(self) -> np.ndarray:
        """Observations of every car (frozen cars keep their last one), float32 in [-1, 1]."""
        tracks = self.tracks
        _observe_kernel(
            tracks.planes, tracks.following, tracks.preceding, self.angles,
            self.x, self.y, self.heading, self.speed, self.steer, self.quad, self.alive,
            self.observations,
        )  # fmt: skip
        return self.observations.copy()
