"""The lockstep MuJoCo locomotion envs give gymnasium's bits, step for step, seed for seed."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest

from envs.locomotion import TASKS, LocomotionVectorEnv, reproduces

IDS = sorted(TASKS)


def play_both(
    env_id: str,
    seeds: list[int],
    *,
    action_scale: float = 1.0,
    max_episode_steps: int | None = None,
    dtype: type = np.float32,
    **kwargs: Any,
) -> dict[str, int]:
    """Every lane of the vector env against gymnasium's env of the same seed, fed the same
    random actions: observations, rewards and both flags equal at every step (an ended
    lane: reward 0, its last observation and flags kept). Returns how episodes ended."""
    limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    vector = LocomotionVectorEnv(env_id, len(seeds), **limit, **kwargs)
    references = [
        gymnasium.make(env_id, disable_env_checker=True, **limit, **kwargs) for _ in seeds
    ]
    obs, _ = vector.reset(seed=seeds)
    first = np.array([env.reset(seed=seed)[0] for env, seed in zip(references, seeds, strict=True)])
    assert obs.dtype == first.dtype == np.float64
    assert np.array_equal(obs, first)
    rng = np.random.default_rng(seeds[0])
    shape = (len(seeds), *vector.single_action_space.shape)
    ended = np.zeros(len(seeds), dtype=bool)
    last = obs
    counts = {"terminated": 0, "truncated": 0, "steps": 0}
    while not ended.all():
        actions = (rng.uniform(-1, 1, shape) * action_scale).astype(dtype)
        obs, rewards, terminated, truncated, _ = vector.step(actions)
        assert rewards.dtype == np.float64
        for lane, env in enumerate(references):
            if ended[lane]:
                assert rewards[lane] == 0.0 and np.array_equal(obs[lane], last[lane])
                continue
            seen, reward, done, cut, _ = env.step(actions[lane])
            assert np.array_equal(obs[lane], seen), (lane, counts["steps"])
            assert np.isfinite(reward) and rewards[lane] == reward, (lane, rewards[lane], reward)
            assert (terminated[lane], truncated[lane]) == (done, cut), lane
            counts["steps"] += 1
            if done or cut:
                ended[lane] = True
                counts["terminated"] += bool(done)
                counts["truncated"] += bool(cut)
        last = obs
    return counts


@pytest.mark.parametrize("env_id", IDS)
def test_every_step_is_gymnasiums(env_id: str) -> None:
    counts = play_both(env_id, [0, 1, 2, 3], max_episode_steps=150, action_scale=1.5)
    assert counts["terminated"] + counts["truncated"] == 4
    if TASKS[env_id].health in ("hopper", "walker"):
        assert counts["terminated"] == 4  # random actions make them fall
    if TASKS[env_id].health is None:
        assert counts["truncated"] == 4


def test_the_time_limit_is_the_registered_one() -> None:
    counts = play_both("HalfCheetah-v5", [5, 6])
    assert counts == {"terminated": 0, "truncated": 2, "steps": 2000}


def test_falls_and_time_limits_mix_in_one_batch() -> None:
    """Gentle actions: some Hoppers fall before the limit, the others are cut at it."""
    counts = play_both("Hopper-v5", list(range(8)), action_scale=0.3, max_episode_steps=60)
    assert counts["terminated"] > 0 and counts["truncated"] > 0


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("Hopper-v5", {"terminate_when_unhealthy": False, "healthy_reward": 0.5}),
        ("Hopper-v5", {"healthy_state_range": (-5.0, 5.0), "healthy_z_range": (0.9, 2.0)}),
        ("Walker2d-v5", {"exclude_current_positions_from_observation": False, "frame_skip": 2}),
        ("HalfCheetah-v5", {"forward_reward_weight": 2.0, "ctrl_cost_weight": 0.3}),
        (
            "Swimmer-v5",
            {"reset_noise_scale": 0.5, "exclude_current_positions_from_observation": False},
        ),
        ("Ant-v5", {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.01}),
    ],
)
def test_the_env_kwargs_mean_what_they_mean_in_gymnasium(
    env_id: str, kwargs: dict[str, Any]
) -> None:
    play_both(env_id, [3, 4], max_episode_steps=80, **kwargs)


def test_float64_actions_are_costed_as_gymnasium_costs_them() -> None:
    play_both("Walker2d-v5", [0, 9], dtype=np.float64, max_episode_steps=80)


def test_a_reset_without_seed_goes_on_with_each_lanes_generator() -> None:
    vector = LocomotionVectorEnv("HalfCheetah-v5", 2)
    references = [gymnasium.make("HalfCheetah-v5") for _ in range(2)]
    vector.reset(seed=[11, 12])
    for env, seed in zip(references, [11, 12], strict=True):
        env.reset(seed=seed)
    again, _ = vector.reset()
    assert np.array_equal(again, np.array([env.reset()[0] for env in references]))
    counted, _ = vector.reset(seed=20)  # an int: seed + lane, as gymnasium's vector envs
    assert np.array_equal(counted[1], references[1].reset(seed=21)[0])


def test_only_what_it_reproduces_is_played_here() -> None:
    assert reproduces("Hopper-v5", {"healthy_reward": 2.0})
    assert not reproduces("Hopper-v5", {"xml_file": "other.xml"})
    assert not reproduces("Hopper-v4", {})
    assert not reproduces("Humanoid-v5", {})
    assert not reproduces("Ant-v5", {"healthy_angle_range": (0, 1)})
    with pytest.raises(ValueError, match="not played here"):
        LocomotionVectorEnv("Hopper-v5", 2, render_mode="rgb_array")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_fifty_seeds_of_whole_episodes_are_gymnasiums(env_id: str) -> None:
    """Up to the 1000-step limit, random actions: the falls of Hopper, Walker2d and Ant."""
    counts = play_both(env_id, list(range(100, 150)))
    assert counts["terminated"] + counts["truncated"] == 50
    health = TASKS[env_id].health
    if health in ("hopper", "walker"):
        assert counts["terminated"] == 50
    elif health == "ant":  # most flip over or jump out of the healthy height, some do not
        assert 0 < counts["terminated"] < 50
