"""The ``cpu`` engine against real Gymnasium (Hopper-v4, Swimmer-v4, InvertedPendulum-v4,
MountainCarContinuous-v0, Walker2d-v4, HalfCheetah-v4, Ant-v4, Reacher-v4).

Tolerance: none. ``cpu`` runs the same C MuJoCo (``mujoco.batch`` is documented bit-identical to
one ``MjData`` per simulation, warm start included) with the same operation order for
observations and rewards, and mountain_car reproduces Gymnasium's float32/float64 mix; we measured
zero difference on every step and every episode return, so any difference is a bug.
"""

import jax
import numpy as np
import pytest

import envs
from envs.policy import random_params
from envs.tasks import TASKS
from tests.reference import gym_episode, make_gym, physical_state

TASK_NAMES = list(TASKS)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_steps_equal_gymnasium(name):
    task = TASKS[name]
    env = envs.make(name, "cpu")
    gym_env = make_gym(task.spec.gymnasium_id)
    rng = np.random.default_rng(0)
    bound, steps = task.spec.action_bound, 0
    for episode in range(3):
        gym_obs, _ = gym_env.reset(seed=episode)
        state = env.reset_to(*physical_state(gym_env, task))
        np.testing.assert_array_equal(state.obs[0], gym_obs)
        for _ in range(task.spec.horizon):
            action = rng.uniform(-bound, bound, task.spec.act_dim).astype(np.float32)
            gym_obs, gym_reward, terminated, truncated, _ = gym_env.step(action)
            state = env.step(state, action[None])
            steps += 1
            np.testing.assert_array_equal(state.obs[0], gym_obs)
            assert state.reward[0] == gym_reward
            assert (bool(state.terminated[0]), bool(state.truncated[0])) == (terminated, truncated)
            if task.spec.has_survival_bonus:  # the bonus-free reward: +1 per step less
                assert state.reward_no_bonus[0] == pytest.approx(gym_reward - 1.0, abs=1e-12)
            if terminated or truncated:
                break
    assert steps > 10


@pytest.mark.parametrize("name", TASK_NAMES)
def test_rollout_returns_equal_gymnasium(name):
    """8 random MLP policies, full episodes, from the rollout's own initial states."""
    task, P = TASKS[name], 8
    spec = task.spec
    env = envs.make(name, "cpu")
    params = random_params(np.random.default_rng(3), P, spec.obs_dim, spec.act_dim)
    obs_mean = np.random.default_rng(4).normal(0.0, 0.1, spec.obs_dim)
    obs_std = np.random.default_rng(5).uniform(0.5, 2.0, spec.obs_dim)
    key = jax.random.key(7)
    result = envs.rollout(env, params, obs_mean, obs_std, key)
    qpos, qvel = env.physical_state(env.reset(key, P))  # the rollout starts from exactly these states
    gym_env = make_gym(spec.gymnasium_id)
    reference = [gym_episode(gym_env, task, qpos[i], qvel[i], params[i], obs_mean, obs_std) for i in range(P)]
    np.testing.assert_array_equal(result.lengths, [length for _, length in reference])
    np.testing.assert_allclose(result.returns, [ret for ret, _ in reference], rtol=1e-9, atol=1e-9)

