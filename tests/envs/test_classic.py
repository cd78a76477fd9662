"""The lockstep classic-control envs: lane i plays gymnasium's single-env episode of its
reset seed, bit for bit (terminations and truncations included), in any lane of any
batch size."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium
import numpy as np
import pytest

from envs.classic import LOCKSTEP

Policy = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # one lane's obs -> action


def random_action(space: gymnasium.Space) -> Policy:
    if isinstance(space, gymnasium.spaces.Discrete):
        return lambda obs, rng: np.int64(rng.integers(space.n))
    # beyond the bounds too: the envs clip
    return lambda obs, rng: rng.uniform(-3, 3, size=space.shape).astype(np.float32)


def balance(obs: np.ndarray, rng: np.random.Generator) -> np.int64:
    """Keeps CartPole up for its 500 steps (so episodes are truncated)."""
    return np.int64(obs[2] + 0.3 * obs[3] + 0.01 * obs[1] > 0)


def pump(obs: np.ndarray, rng: np.random.Generator) -> np.int64:
    """Pushes the mountain car along its velocity: reaches the flag (terminated)."""
    return np.int64(2 if obs[1] >= 0 else 0)


def swing(obs: np.ndarray, rng: np.random.Generator) -> np.int64:
    """Torque along the second joint's velocity, with some noise: the acrobot gets up."""
    if rng.random() < 0.2:
        return np.int64(rng.integers(3))
    return np.int64(2 if obs[5] >= 0 else 0)


def single_episode(env_id: str, seed: int, policy: Policy) -> tuple[list, list, bool, bool]:
    """Observations and rewards of gymnasium's own env, and how the episode ended."""
    env = gymnasium.make(env_id, disable_env_checker=True)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    while True:
        action = policy(obs, rng)
        obs, reward, terminated, truncated, _ = env.step(action if np.ndim(action) else int(action))
        observations.append(obs)
        rewards.append(float(reward))
        if terminated or truncated:
            env.close()
            return observations, rewards, bool(terminated), bool(truncated)


def lockstep_episodes(env_id: str, seeds: list[int], policy: Policy) -> list[tuple]:
    """The same, for every seed at once, one lane each; each lane draws from its own rng."""
    vector = LOCKSTEP[env_id](len(seeds), gymnasium.spec(env_id).max_episode_steps)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    obs, _ = vector.reset(seed=seeds)
    played = [([obs[lane]], [], False, False) for lane in range(len(seeds))]
    alive = np.ones(len(seeds), dtype=bool)
    while alive.any():
        actions = np.stack([policy(obs[lane], rngs[lane]) for lane in range(len(seeds))])
        obs, rewards, terminated, truncated, _ = vector.step(actions)
        for lane in np.flatnonzero(alive):
            observations, lane_rewards, _, _ = played[lane]
            observations.append(obs[lane])
            lane_rewards.append(float(rewards[lane]))
            if terminated[lane] or truncated[lane]:
                alive[lane] = False
                ended = (observations, lane_rewards, bool(terminated[lane]), bool(truncated[lane]))
                played[lane] = ended
    # a lane that ended stays frozen: no reward, no end reported again
    _, rewards, terminated, truncated, _ = vector.step(actions)
    assert not rewards.any() and not terminated.any() and not truncated.any()
    return played


def assert_same_episode(lockstep: tuple, single: tuple, what: str) -> None:
    observations, rewards, terminated, truncated = lockstep
    assert (terminated, truncated) == single[2:], what
    assert rewards == single[1], what  # exact floats
    assert len(observations) == len(single[0]), what
    for step, (ours, theirs) in enumerate(zip(observations, single[0], strict=True)):
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), (what, step)


CASES = [
    ("CartPole-v1", "random", 40),
    ("CartPole-v1", "balance", 12),
    ("Pendulum-v1", "random", 24),
    ("MountainCar-v0", "random", 12),
    ("MountainCar-v0", "pump", 24),
    ("Acrobot-v1", "swing", 12),
]


@pytest.mark.parametrize(("env_id", "policy_name", "count"), CASES)
def test_each_lane_plays_the_single_env_episode_of_its_seed(
    env_id: str, policy_name: str, count: int
) -> None:
    space = gymnasium.make(env_id).action_space
    policy = {"balance": balance, "pump": pump, "swing": swing}.get(
        policy_name, random_action(space)
    )
    seeds = [int(s) for s in np.random.default_rng(len(env_id)).integers(2**31, size=count)]
    played = lockstep_episodes(env_id, seeds, policy)
    ends = {"terminated": 0, "truncated": 0}
    for seed, lane in zip(seeds, played, strict=True):
        single = single_episode(env_id, seed, policy)
        assert_same_episode(lane, single, f"{env_id} seed {seed}")
        ends["terminated" if single[2] else "truncated"] += 1
    expected = {
        "balance": "truncated",
        "pump": "terminated",
        "swing": "terminated",
    }.get(policy_name, "terminated" if env_id == "CartPole-v1" else "truncated")
    assert ends[expected] >= count // 2, ends  # the case tests the end it is meant to


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1"])
def test_a_lane_plays_the_same_episode_in_any_position_and_batch_size(env_id: str) -> None:
    space = gymnasium.make(env_id).action_space
    policy = random_action(space)
    seed = 12345
    reference = single_episode(env_id, seed, policy)
    others = iter(range(10_000, 20_000))
    for size in (1, 3, 8, 17, 64):
        for position in sorted({0, size // 2, size - 1, min(5, size - 1)}):
            seeds = [seed if lane == position else next(others) for lane in range(size)]
            played = lockstep_episodes(env_id, seeds, policy)
            assert_same_episode(played[position], reference, f"size {size} lane {position}")


def test_kwargs_reach_the_physics_and_unknown_ones_are_refused() -> None:
    heavy = LOCKSTEP["Pendulum-v1"](2, 200, g=12.5)
    light = LOCKSTEP["Pendulum-v1"](2, 200)
    single = gymnasium.make("Pendulum-v1", g=12.5, disable_env_checker=True)
    heavy.reset(seed=[3, 4])
    light.reset(seed=[3, 4])
    single.reset(seed=3)
    torque = np.zeros((2, 1), dtype=np.float32)
    for _ in range(3):
        ours, theirs, plain = (
            heavy.step(torque)[0],
            single.step(torque[0])[0],
            light.step(torque)[0],
        )
    assert ours[0].tobytes() == theirs.tobytes()
    assert not np.array_equal(ours, plain)
    with pytest.raises(TypeError):
        LOCKSTEP["CartPole-v1"](2, 500, gravity_well=True)
