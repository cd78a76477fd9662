"""Race tracks: a closed centreline (periodic cubic spline through control points) with a
half-width, cut into a strip of convex quads.

Quad ``j`` has corners ``left[j], left[j+1], right[j+1], right[j]``; its four edges
are stored as outward half-planes ``n . x <= c`` (left boundary, right boundary,
front cross-edge, back cross-edge). Everything the simulator needs (rays, motion,
progress) walks this strip: a straight line leaves a convex quad through the
outward edge it meets first, so a ray starting on the track reaches the boundary
after visiting only the quads it actually crosses.

Procedural tracks come from an integer seed: control points jittered around a
circle, redrawn until every bend is wide enough for the car and no two parts of
the track come too close. Generation is deterministic in the seed, and the same bits on
every CPU (:mod:`envs.racetrack.trig`, a plain linear solve rather than LAPACK's).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from envs.racetrack.trig import atan2_array, cos_array, sin_array

LEFT, RIGHT, FRONT, BACK = 0, 1, 2, 3

HALF_WIDTH = 6.0  # m
MIN_RADIUS = 12.0  # m: tightest allowed bend (the car turns in 5.2 m; 2 half-widths)
MIN_GAP = 6.0  # m of grass at least between two parts of the track
CHORD_TOLERANCE = 0.15  # m: how far a centreline segment may stray from the spline
MIN_SEGMENT, MAX_SEGMENT = 1.5, 25.0  # m


class TrackError(ValueError):
    """A track that cannot be built (bad control points, invalid geometry)."""


@dataclass(frozen=True, eq=False)
class Track:
    """A closed track: centreline, boundaries and the quad strip between them."""

    name: str
    centre: np.ndarray  # (M, 2) float64 vertices, not closed; closer together in bends
    half_width: float
    arc: np.ndarray  # (M + 1,) distance along the centreline to each vertex (and the lap)
    left: np.ndarray  # (M, 2)
    right: np.ndarray  # (M, 2)
    planes: np.ndarray  # (M, 4, 3): per quad, edges LEFT, RIGHT, FRONT, BACK as (nx, ny, c)

    @property
    def num_quads(self) -> int:
        """Quads (and vertices) around the lap."""
        return len(self.centre)

    @property
    def length(self) -> float:
        """Lap length along the centreline polyline (m)."""
        return float(self.arc[-1])

    def inside(self, quad: int, point: np.ndarray) -> bool:
        """Whether ``point`` lies in quad ``quad`` (edges included)."""
        planes = self.planes[quad]
        return bool(np.all(planes[:, :2] @ point <= planes[:, 2] + 1e-9))


def from_control_points(
    name: str,
    points: np.ndarray,
    half_width: float = HALF_WIDTH,
    min_radius: float = MIN_RADIUS,
    min_gap: float = MIN_GAP,
) -> Track:
    """Build a track through closed control points (counter-clockwise), or raise TrackError."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 4:
        raise TrackError(f"{name}: expected at least 4 control points (x, y)")
    dense = _periodic_spline(points, samples_per_span=64)
    radius = turn_radii(dense)
    check_geometry(name, dense, half_width, min_radius, min_gap, radius)
    return _build(name, _adaptive_vertices(dense, radius), half_width)


def _periodic_spline(points: np.ndarray, samples_per_span: int) -> np.ndarray:
    """Closed interpolating cubic spline (C2) through ``points``, densely sampled.

    Parameterised by chord length, so uneven control-point spacing (a long straight
    next to a tight hairpin) does not make the curve overshoot.
    """
    following = np.roll(points, -1, axis=0)
    h = np.linalg.norm(following - points, axis=1)  # span i: points[i] -> points[i+1]
    if (h <= 0).any():
        raise TrackError("two consecutive control points coincide")
    h_before = np.roll(h, 1)
    n = len(points)
    # Second derivatives M: h[i-1] M[i-1] + 2 (h[i-1] + h[i]) M[i] + h[i] M[i+1]
    #                       = 6 ((P[i+1] - P[i]) / h[i] - (P[i] - P[i-1]) / h[i-1]).
    system = np.zeros((n, n))
    rows = np.arange(n)
    system[rows, rows] = 2 * (h_before + h)
    system[rows, (rows - 1) % n] += h_before
    system[rows, (rows + 1) % n] += h
    slopes = (following - points) / h[:, None]
    second = _solve(system, 6 * (slopes - np.roll(slopes, 1, axis=0)))
    t = (np.arange(samples_per_span) / samples_per_span)[None, :, None]
    a, b = points[:, None], following[:, None]
    ma, mb = second[:, None], np.roll(second, -1, axis=0)[:, None]
    hh = h[:, None, None] ** 2
    curve = (1 - t) * a + t * b + hh / 6 * (((1 - t) ** 3 - (1 - t)) * ma + (t**3 - t) * mb)
    return curve.reshape(-1, 2)


@numba.njit(cache=True)
def _solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``system^-1 rhs`` by Gaussian elimination in a fixed order, without pivoting (the
    spline's system is strictly diagonally dominant): the same bits on every CPU, which
    LAPACK's blocked kernels (chosen by CPU model) do not promise."""
    a, b = system.copy(), rhs.copy()
    n = a.shape[0]
    for pivot in range(n):
        for row in range(pivot + 1, n):
            factor = a[row, pivot] / a[pivot, pivot]
            if factor != 0.0:
                for column in range(pivot, n):
                    a[row, column] = a[row, column] - factor * a[pivot, column]
                for column in range(b.shape[1]):
                    b[row, column] = b[row, column] - factor * b[pivot, column]
    for pivot in range(n - 1, -1, -1):
        for column in range(b.shape[1]):
            total = b[pivot, column]
            for later in range(pivot + 1, n):
                total = total - a[pivot, later] * b[later, column]
            b[pivot, column] = total / a[pivot, pivot]
    return b


def _adaptive_vertices(dense: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Centreline vertices along the closed polyline ``dense``, as far apart as the bend allows.

    A chord of length L on a circle of radius r strays L^2 / (8 r) from it, so
    segments are ``sqrt(8 r tolerance)`` long (clipped): long on straights, short
    in hairpins. Fewer, longer quads are what make rays cheap.
    """
    closed = np.vstack([dense, dense[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    closed_radius = np.append(radius, radius[0])
    allowed = np.clip(np.sqrt(8 * closed_radius * CHORD_TOLERANCE), MIN_SEGMENT, MAX_SEGMENT)
    stops, position = [0.0], 0.0
    while True:
        ahead = (arc >= position) & (arc <= position + MAX_SEGMENT)
        step = float(allowed[ahead].min()) if ahead.any() else MAX_SEGMENT
        position += step
        if position > arc[-1] - 0.5 * step:
            break
        stops.append(position)
    stops = np.array(stops)
    return np.stack([np.interp(stops, arc, closed[:, 0]), np.interp(stops, arc, closed[:, 1])], 1)


def check_geometry(
    name: str,
    dense: np.ndarray,
    half_width: float,
    min_radius: float,
    min_gap: float,
    radius: np.ndarray | None = None,
) -> None:
    """Raise TrackError if a bend is too tight, the loop is not simple and counter-clockwise,
    or two parts of the track come too close (``dense``: the closely sampled centreline)."""
    radius = turn_radii(dense) if radius is None else radius
    if radius.min() < min_radius:
        raise TrackError(f"{name}: a bend of radius {radius.min():.1f} m < {min_radius} m")
    headings = _headings(dense)
    turning = np.diff(np.unwrap(np.append(headings, headings[0])))
    if not np.isclose(turning.sum(), 2 * np.pi, atol=0.1):
        raise TrackError(f"{name}: the centreline must loop once counter-clockwise")
    # Points farther apart along the lap than a half-circle of the clearance must be
    # at least two half-widths plus the gap apart in the plane.
    clearance = 2 * half_width + min_gap
    steps = np.linalg.norm(np.roll(dense, -1, axis=0) - dense, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    lap = steps.sum()
    points = np.ascontiguousarray(dense, dtype=np.float64)
    distance = _first_close_pair(points, arc, float(lap), float(clearance), np.pi * clearance / 2)
    if distance >= 0.0:
        raise TrackError(
            f"{name}: two parts of the track are {distance:.1f} m apart (< {clearance} m)"
        )


@numba.njit(cache=True)
def _first_close_pair(
    points: np.ndarray, arc: np.ndarray, lap: float, clearance: float, apart: float
) -> float:
    """Distance of the first pair (row-major) of points closer than ``clearance`` in the
    plane but more than ``apart`` along the lap; -1 if there is none.

    The pairwise test of every point against every other, without the n x n arrays:
    the same arithmetic per pair as numpy's (``sqrt(dx*dx + dy*dy)``), so the same
    tracks pass; a valid track is the worst case, and costs ~n^2/2 cheap steps.
    """
    n = points.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            along = abs(arc[i] - arc[j])
            along = min(along, lap - along)
            if along <= apart:
                continue
            dx = points[i, 0] - points[j, 0]
            dy = points[i, 1] - points[j, 1]
            distance = math.sqrt(dx * dx + dy * dy)
            if distance < clearance:
                return distance
    return -1.0


def turn_radii(centre: np.ndarray) -> np.ndarray:
    """Radius of the circle through each vertex and its two neighbours (inf when straight)."""
    previous, following = np.roll(centre, 1, axis=0), np.roll(centre, -1, axis=0)
    a = np.linalg.norm(centre - previous, axis=1)
    b = np.linalg.norm(following - centre, axis=1)
    c = np.linalg.norm(following - previous, axis=1)
    u, v = centre - previous, following - centre
    cross = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    with np.errstate(divide="ignore"):
        return np.where(cross > 1e-12, a * b * c / (2 * cross), np.inf)


def _headings(centre: np.ndarray) -> np.ndarray:
    tangent = np.roll(centre, -1, axis=0) - centre
    return atan2_array(tangent[:, 1], tangent[:, 0])


def _wrap(angle: float | np.ndarray) -> float | np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _build(name: str, centre: np.ndarray, half_width: float) -> Track:
    # Vertex normals from the average of the adjacent segment directions (points left).
    tangent = np.roll(centre, -1, axis=0) - np.roll(centre, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    left, right = centre + half_width * normal, centre - half_width * normal
    left_next, right_next = np.roll(left, -1, axis=0), np.roll(right, -1, axis=0)
    planes = np.stack(
        [
            _outward_plane(left, left_next, right),  # left boundary, outward = to the left
            _outward_plane(right_next, right, left),  # right boundary
            _outward_plane(left_next, right_next, left),  # front cross-edge
            _outward_plane(right, left, left_next),  # back cross-edge
        ],
        axis=1,
    )
    corners = np.stack([left, left_next, right_next, right], axis=1)
    inside = np.einsum("mek,mck->mec", planes[:, :, :2], corners) - planes[:, :, 2:3]
    if (inside > 1e-6).any():
        quad = int(np.argwhere(inside > 1e-6)[0][0])
        raise TrackError(f"{name}: quad {quad} is not convex")
    segment = np.linalg.norm(np.roll(centre, -1, axis=0) - centre, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    return Track(name, centre, half_width, arc, left, right, planes)


def _outward_plane(a: np.ndarray, b: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Half-plane (nx, ny, c) through edge a-b whose normal points away from ``inner``."""
    direction = b - a
    normal = np.stack([direction[:, 1], -direction[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    offset = np.sum(normal * a, axis=1)
    flip = np.sum(normal * inner, axis=1) > offset
    normal[flip] *= -1
    offset[flip] *= -1
    return np.concatenate([normal, offset[:, None]], axis=1)


# --------------------------------------------------------------------------- catalogue


def procedural(seed: int, max_attempts: int = 1000) -> Track:
    """The procedural track of ``seed``: jittered control points, redrawn until valid."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0x7EACC,)))
    for _ in range(max_attempts):
        count = int(rng.integers(8, 14))
        angles = (np.arange(count) + rng.uniform(-0.3, 0.3, count)) * (2 * np.pi / count)
        radii = rng.uniform(60.0, 110.0) * rng.uniform(0.55, 1.0, count)
        points = np.stack([radii * cos_array(angles), radii * sin_array(angles)], axis=1)
        try:
            return from_control_points(f"seed-{seed}", points)
        except TrackError:
            continue
    raise TrackError(f"seed-{seed}: no valid track in {max_attempts} attempts")


NAMED_CONTROL_POINTS = {
    # A stadium: two long straights and two wide turns.
    "oval": [(-80, -40), (0, -42), (80, -40), (115, 0), (80, 40), (0, 42), (-80, 40), (-115, 0)],
    # A bean: one side pushed in, so the track bends both ways.
    "kidney": [
        (-90, -30), (-40, -60), (30, -60), (90, -30), (100, 25), (55, 55),
        (15, 25), (-20, 25), (-60, 60), (-105, 25),
    ],
    # A serpentine: three straights joined by two 16 m hairpins that need hard braking.
    "hairpins": [
        (-50, -32), (0, -32), (50, -32), (58, -30), (64, -24), (66, -16), (64, -8), (58, -2),
        (50, 0), (0, 0), (-10, 0), (-18, 2), (-24, 8), (-26, 16), (-24, 24), (-18, 30),
        (-10, 32), (0, 32), (50, 32), (67, 39), (74, 56), (67, 73), (0, 80), (-50, 80),
        (-78, 72), (-98, 52), (-106, 24), (-98, -4), (-78, -24),
    ],
}  # fmt: skip


@functools.lru_cache(maxsize=256)
def get_track(key: str | int) -> Track:
    """A named track (``oval``, ``kidney``, ``hairpins``) or the procedural track of a seed."""
    if isinstance(key, str) and key in NAMED_CONTROL_POINTS:
        return from_control_points(key, np.array(NAMED_CONTROL_POINTS[key], dtype=np.float64))
    if isinstance(key, str):
        try:
            key = int(key)
        except ValueError:
            names = ", ".join(NAMED_CONTROL_POINTS)
            raise TrackError(
                f"unknown track {key!r}: expected {names} or an integer seed"
            ) from None
    return procedural(int(key))
