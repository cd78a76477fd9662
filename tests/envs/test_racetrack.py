"""The race track: exact rays, valid tracks, drivable, gymnasium-compliant, batched == single."""

from __future__ import annotations

import itertools

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers envs/RaceTrack-v0)
from envs.racetrack.pursuit import PurePursuit, drive
from envs.racetrack.sim import RAY_RANGE, RaceSim, TrackSet, walk
from envs.racetrack.track import (
    MIN_GAP,
    MIN_RADIUS,
    NAMED_CONTROL_POINTS,
    TrackError,
    _periodic_spline,
    from_control_points,
    get_track,
    procedural,
    turn_radii,
)

NAMED = sorted(NAMED_CONTROL_POINTS)


def brute_force_ray(track, x: float, y: float, dx: float, dy: float, limit: float) -> float:
    """Distance to the nearest boundary segment along the ray, testing every segment."""
    best = limit
    for boundary in (track.left, track.right):
        a, b = boundary, np.roll(boundary, -1, axis=0)
        e = b - a
        denominator = dx * e[:, 1] - dy * e[:, 0]
        qx, qy = a[:, 0] - x, a[:, 1] - y
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (qx * e[:, 1] - qy * e[:, 0]) / denominator
            u = (qx * dy - qy * dx) / denominator
        ok = (np.abs(denominator) > 1e-12) & (t >= 0) & (u >= 0) & (u <= 1)
        if ok.any():
            best = min(best, float(t[ok].min()))
    return best


def random_poses(track, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points uniformly spread over random quads of the track, and their quads."""
    quads = rng.integers(track.num_quads, size=count)
    following = (quads + 1) % track.num_quads
    a, b = rng.uniform(0.01, 0.99, (2, count, 1))
    left = (1 - b) * track.left[quads] + b * track.left[following]
    right = (1 - b) * track.right[quads] + b * track.right[following]
    return (1 - a) * left + a * right, quads


@pytest.mark.parametrize("key", [*NAMED, 0, 1, 2, 3])
def test_rays_match_a_brute_force_reference(key) -> None:
    track = get_track(key)
    tracks = TrackSet.of([track])
    rng = np.random.default_rng(hash(str(key)) % 2**32)
    points, quads = random_poses(track, 500, rng)
    angles = rng.uniform(-np.pi, np.pi, (500, 9))
    t, hit, _ = walk(
        tracks, points[:, 0], points[:, 1], np.cos(angles), np.sin(angles), quads, RAY_RANGE
    )
    for i in range(500):
        for j in range(9):
            expected = brute_force_ray(
                track, *points[i], np.cos(angles[i, j]), np.sin(angles[i, j]), RAY_RANGE
            )
            assert t[i, j] == pytest.approx(expected, abs=1e-9)
            assert hit[i, j] == (expected < RAY_RANGE)


def test_track_generation_is_deterministic_in_the_seed() -> None:
    first, again, other = procedural(11), procedural(11), procedural(12)
    np.testing.assert_array_equal(first.centre, again.centre)
    np.testing.assert_array_equal(first.planes, again.planes)
    assert first.centre.shape != other.centre.shape or not np.allclose(first.centre, other.centre)


def _segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return orient(p1, p2, q1) != orient(p1, p2, q2) and orient(q1, q2, p1) != orient(q1, q2, p2)


@pytest.mark.parametrize("key", [*NAMED, *range(40)])
def test_every_track_is_valid(key) -> None:
    track = get_track(key)
    # Bends within the car's reach, measured on the polyline the car drives.
    assert turn_radii(track.centre).min() >= 0.9 * MIN_RADIUS
    # Boundaries never cross each other or themselves.
    segments = [
        (boundary[i], boundary[(i + 1) % track.num_quads], side, i)
        for side, boundary in enumerate((track.left, track.right))
        for i in range(track.num_quads)
    ]
    for index, (p1, p2, side_p, i) in enumerate(segments):
        for q1, q2, side_q, j in segments[index + 1 :]:
            adjacent = side_p == side_q and min(abs(i - j), track.num_quads - abs(i - j)) <= 1
            if not adjacent:
                assert not _segments_cross(p1, p2, q1, q2), (key, side_p, i, side_q, j)
    # Distinct parts of the track keep their distance.
    centre = track.centre
    arc = track.arc[:-1]
    along = np.abs(arc[:, None] - arc[None, :])
    along = np.minimum(along, track.length - along)
    clearance = 2 * track.half_width + MIN_GAP
    distance = np.linalg.norm(centre[:, None] - centre[None], axis=2)
    assert not ((distance < 0.95 * clearance) & (along > np.pi * clearance / 2)).any()
    # Every quad is convex (its corners satisfy all four half-planes).
    for quad in range(track.num_quads):
        following = (quad + 1) % track.num_quads
        for corner in (
            track.left[quad],
            track.left[following],
            track.right[quad],
            track.right[following],
        ):
            assert track.inside(quad, corner)


def test_invalid_control_points_are_rejected() -> None:
    with pytest.raises(TrackError, match="bend of radius"):
        from_control_points("tight", np.array([(0, 0), (10, 0), (10, 10), (0, 10)], float))
    with pytest.raises(TrackError, match="unknown track"):
        get_track("moon")


def test_a_hand_written_driver_completes_every_named_and_20_procedural_tracks() -> None:
    tracks = [get_track(name) for name in NAMED] + [get_track(seed) for seed in range(100, 120)]
    sim = drive(tracks, PurePursuit(), max_steps=1000)
    assert sim.finished.all(), [
        t.name for t, ok in zip(tracks, sim.finished, strict=True) if not ok
    ]
    assert not sim.crashed.any()


def test_reward_is_progress_minus_time() -> None:
    env = gymnasium.make("envs/RaceTrack-v0", track="oval")
    env.reset(seed=0)
    sim = env.unwrapped.sim
    driver, total, steps = PurePursuit(), 0.0, 0
    while True:
        _, reward, terminated, truncated, info = env.step(driver.actions(sim)[0].astype(np.float32))
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            break
    assert terminated and sim.finished[0]
    lap = env.unwrapped.track.length
    assert total == pytest.approx(1000 * info["progress"] / lap - 0.1 * steps, abs=1e-6)
    assert 1000 - 0.1 * steps <= total <= 1000 + 1000 * 3 / lap  # a clean lap scores ~1000 - 0.1 T


def test_reversing_loses_progress() -> None:
    sim = RaceSim(TrackSet.of([get_track("oval")]), np.zeros(1, dtype=np.int64))
    sim.reset()
    sim.heading[0] += np.pi  # facing backwards on the start line
    rewards = [sim.step(np.array([[0.0, 0.5]]))[1][0] for _ in range(10)]
    assert sum(rewards) < -0.1 * 10 and sim.progress[0] < 0


def test_leaving_the_track_ends_the_episode() -> None:
    env = gymnasium.make("envs/RaceTrack-v0", track="oval")
    env.reset(seed=0)
    for _ in range(200):
        _, _, terminated, _, info = env.step(np.array([1.0, 1.0], np.float32))
        if terminated:
            break
    assert terminated and info["crashed"]


def test_check_env() -> None:
    check_env(gymnasium.make("envs/RaceTrack-v0", render_mode="rgb_array").unwrapped)
    assert gymnasium.spec("envs/RaceTrack-v0").reward_threshold == 900


def test_batched_equals_single_bit_for_bit() -> None:
    seeds = [5, 6, 5, 7, 1, 2]
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (400, len(seeds), 2)).astype(np.float32)
    actions[:, :, 1] = np.abs(actions[:, :, 1])
    vector = gymnasium.make_vec(
        "envs/RaceTrack-v0", num_envs=len(seeds), vectorization_mode="vector_entry_point"
    )
    obs, _ = vector.reset(seed=seeds)
    trajectory, rewards, done = [obs], [], np.zeros(len(seeds), bool)
    for step_actions in actions:
        obs, reward, terminated, truncated, _ = vector.step(step_actions)
        trajectory.append(obs)
        rewards.append(np.where(done, 0.0, reward))
        done |= terminated | truncated
    assert done.all()
    for car, seed in enumerate(seeds):
        env = gymnasium.make("envs/RaceTrack-v0")
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, trajectory[0][car])
        for step, step_actions in enumerate(actions):
            obs, reward, terminated, truncated, _ = env.step(step_actions[car])
            np.testing.assert_array_equal(obs, trajectory[step + 1][car])
            assert reward == rewards[step][car]
            if terminated or truncated:
                break


def test_compiled_observations_equal_the_array_rays() -> None:
    sim = RaceSim(TrackSet.of([get_track(seed) for seed in (1, 2, 3)]), np.arange(30) % 3)
    sim.reset()
    rng = np.random.default_rng(1)
    for _ in range(60):
        was_alive = sim.alive.copy()
        obs, _, _ = sim.step(rng.uniform(-0.3, 1.0, (30, 2)))
        live = np.flatnonzero(sim.alive & was_alive)
        expected = (sim.ranges(live) / RAY_RANGE).astype(np.float32)
        np.testing.assert_array_equal(obs[live, :-2], expected)


def test_compiled_clip_is_numpys_clip_bit_for_bit() -> None:
    from envs.racetrack.sim import _clip, _clip_array_bounds

    special = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, np.inf, -np.inf, np.nan, -np.nan]
    for value, low, high in itertools.product(special, repeat=3):
        with np.errstate(invalid="ignore"):
            per_element = np.clip(np.array([value]), np.array([low]), np.array([high]))[0]
        assert np.float64(_clip_array_bounds(value, low, high)).tobytes() == per_element.tobytes()
        if not (np.isnan(low) or np.isnan(high) or low > high):
            constant = np.clip(np.array([value]), low, high)[0]
            assert np.float64(_clip(value, low, high)).tobytes() == constant.tobytes()


def test_render_shows_the_track() -> None:
    env = gymnasium.make("envs/RaceTrack-v0", render_mode="rgb_array")
    env.reset(seed=3)
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # grass, road, lines, car


def test_spline_passes_through_its_control_points() -> None:
    points = np.array(NAMED_CONTROL_POINTS["kidney"], dtype=float)
    dense = _periodic_spline(points, samples_per_span=16)
    np.testing.assert_allclose(dense[::16], points, atol=1e-9)


def test_ray_count_is_configurable() -> None:
    env = gymnasium.make("envs/RaceTrack-v0", num_rays=5)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.shape == (7,) and obs.shape == (7,)
    vector = gymnasium.make_vec(
        "envs/RaceTrack-v0", num_envs=2, vectorization_mode="vector_entry_point", num_rays=5
    )
    obs, _ = vector.reset(seed=[1, 2])
    assert obs.shape == (2, 7)
    np.testing.assert_array_equal(obs[0], env.reset(seed=1)[0])


def test_a_single_ray_looks_ahead() -> None:
    from envs.racetrack.sim import ray_angles

    assert ray_angles(1).tolist() == [0.0]
    assert ray_angles(9)[[0, 4, 8]].tolist() == [np.pi / 2, 0.0, -np.pi / 2]
