"""The Gymnasium wrapper over the cpu engine: the API checker, and step-for-step equality with Gymnasium."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.gym_env import GymEnv
from envs.tasks import TASKS
from tests.reference import make_gym, physical_state


@pytest.mark.parametrize("name", list(TASKS))
def test_passes_gymnasiums_env_checker(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # infinite observation bounds, as Gymnasium's own envs have
        check_env(GymEnv(name), skip_render_check=True)


@pytest.mark.parametrize("name", ["hopper", "inverted_pendulum", "mountain_car"])
def test_steps_equal_gymnasium(name):
    task = TASKS[name]
    gym_env, ours = make_gym(task.spec.gymnasium_id), GymEnv(name)
    rng = np.random.default_rng(0)
    gym_obs, _ = gym_env.reset(seed=3)
    qpos, qvel = physical_state(gym_env, task)
    obs, _ = ours.reset(options={"qpos": qpos[0], "qvel": qvel[0]})
    np.testing.assert_array_equal(obs, gym_obs)
    for _ in range(200):
        action = rng.uniform(-1, 1, ours.action_space.shape).astype(np.float32) * task.spec.action_bound
        expected = gym_env.step(action)
        got = ours.step(action)
        np.testing.assert_array_equal(got[0], expected[0])
        assert got[1:4] == expected[1:4]
        if expected[2] or expected[3]:
            break


def test_episode_returns_are_recorded_and_seed_repeats():
    env = GymEnv("inverted_pendulum")
    first, _ = env.reset(seed=7)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(np.array([3.0], np.float32))
        total += reward
        done = terminated or truncated
    assert env.episode_returns == [total] and total < 100
    again, _ = env.reset(seed=7)
    np.testing.assert_array_equal(first, again)
