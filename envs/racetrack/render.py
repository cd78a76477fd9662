"""Frames of the race track (track, car, rangefinder rays) as RGB arrays, drawn with Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from envs.racetrack.sim import RaceSim

GRASS, ROAD, LINE = (76, 130, 64), (92, 92, 96), (235, 235, 235)
CAR, RAY, START, TRAIL = (214, 48, 49), (255, 214, 10), (250, 250, 250), (80, 160, 255)
CAR_LENGTH, CAR_WIDTH = 4.5, 2.0  # m


def render_frame(
    sim: RaceSim,
    car: int = 0,
    size: int = 480,
    margin: float = 8.0,
    trail: np.ndarray | None = None,
) -> np.ndarray:
    """An RGB image ``(size, size, 3)`` of car ``car`` on its track, with its rays
    (and the path it drove, ``trail``: positions ``(steps, 2)``)."""
    track = sim.tracks.tracks[sim.track_of[car]]
    points = np.vstack([track.left, track.right])
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    scale = size / float(np.max(high - low))

    def pixels(xy: np.ndarray) -> list[tuple[float, float]]:
        xy = np.atleast_2d(xy)
        u = (xy[:, 0] - low[0]) * scale
        v = size - (xy[:, 1] - low[1]) * scale  # y up
        return list(zip(u.tolist(), v.tolist(), strict=True))

    image = Image.new("RGB", (size, size), GRASS)
    draw = ImageDraw.Draw(image)
    count = track.num_quads
    for quad in range(count):
        following = (quad + 1) % count
        corners = [
            track.left[quad],
            track.left[following],
            track.right[following],
            track.right[quad],
        ]
        draw.polygon(pixels(np.array(corners)), fill=ROAD)
    for boundary in (track.left, track.right):
        draw.line(pixels(np.vstack([boundary, boundary[:1]])), fill=LINE, width=1)
    draw.line(pixels(np.array([track.left[0], track.right[0]])), fill=START, width=2)
    if trail is not None and len(trail) > 1:
        draw.line(pixels(np.asarray(trail)), fill=TRAIL, width=2)

    position = np.array([sim.x[car], sim.y[car]])
    distances = sim.ranges(np.array([car]))[0]
    for angle, distance in zip(sim.angles, distances, strict=True):
        direction = np.array([np.cos(sim.heading[car] + angle), np.sin(sim.heading[car] + angle)])
        draw.line(pixels(np.array([position, position + distance * direction])), fill=RAY, width=1)
    forward = np.array([np.cos(sim.heading[car]), np.sin(sim.heading[car])])
    side = np.array([-forward[1], forward[0]])
    body = [
        position + sx * CAR_LENGTH / 2 * forward + sy * CAR_WIDTH / 2 * side
        for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]
    draw.polygon(pixels(np.array(body)), fill=CAR, outline=(0, 0, 0))
    return np.asarray(image)
