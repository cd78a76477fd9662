"""A hand-written driver: pure pursuit along the centreline, braking for bends ahead.

A baseline for the learned policies and a check that tracks are drivable: it
knows the centreline (the policies only see their rangefinders).
"""

from __future__ import annotations

import numpy as np

from envs.racetrack.sim import GRIP, MAX_BRAKE, MAX_STEER, WHEELBASE, RaceSim
from envs.racetrack.track import Track, turn_radii


class PurePursuit:
    """Steer towards a point ahead on the centreline; hold a speed every bend ahead allows."""

    def __init__(self, margin: float = 0.75, lookahead: float = 6.0, lookahead_gain: float = 0.4):
        self.margin = margin  # fraction of the grip limit used in bends
        self.lookahead = lookahead
        self.lookahead_gain = lookahead_gain

    def actions(self, sim: RaceSim) -> np.ndarray:
        """Steering and throttle for every car of ``sim``."""
        out = np.zeros((sim.num_cars, 2))
        for car in range(sim.num_cars):
            out[car] = self._act(sim, car, sim.tracks.tracks[sim.track_of[car]])
        return out

    def _act(self, sim: RaceSim, car: int, track: Track) -> np.ndarray:
        speed = sim.speed[car]
        distance = self.lookahead + self.lookahead_gain * speed
        target = point_at(track, sim.arc[car] + distance)
        bearing = np.arctan2(target[1] - sim.y[car], target[0] - sim.x[car]) - sim.heading[car]
        bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
        curvature = 2 * np.sin(bearing) / distance
        steer = np.clip(np.arctan(curvature * WHEELBASE) / MAX_STEER, -1, 1)
        # The fastest speed from which every bend within braking range can still be taken.
        ahead = (track.arc[:-1] - sim.arc[car]) % track.length
        radii = turn_radii(track.centre)
        reach = ahead < 80.0
        corner = np.sqrt(self.margin * GRIP * radii[reach])
        allowed = np.sqrt(corner**2 + 2 * 0.7 * MAX_BRAKE * ahead[reach]).min(initial=np.inf)
        throttle = np.clip((allowed - speed) * 0.5, -1, 1)
        return np.array([steer, throttle])


def point_at(track: Track, arc: float) -> np.ndarray:
    """The centreline point at distance ``arc`` along the lap."""
    arc = arc % track.length
    index = int(np.searchsorted(track.arc, arc, side="right") - 1)
    following = track.centre[(index + 1) % track.num_quads]
    fraction = (arc - track.arc[index]) / (track.arc[index + 1] - track.arc[index])
    return track.centre[index] + fraction * (following - track.centre[index])


def drive(tracks: list[Track], driver: PurePursuit, max_steps: int = 2000) -> RaceSim:
    """Drive one lap of each track with ``driver``; returns the finished simulation."""
    from envs.racetrack.sim import TrackSet

    sim = RaceSim(TrackSet.of(tracks), np.arange(len(tracks)))
    sim.reset()
    for _ in range(max_steps):
        if not sim.alive.any():
            break
        sim.step(driver.actions(sim))
    return sim
