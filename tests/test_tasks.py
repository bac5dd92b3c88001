"""Task specs agree with the Gymnasium environments they reproduce."""

import numpy as np
import pytest

import envs
from envs.tasks import TASKS
from fastgen.policy_file import SURVIVAL_BONUS_TASKS
from tests.reference import make_gym


@pytest.mark.parametrize("name", list(TASKS))
def test_spec_matches_gymnasium(name):
    spec = TASKS[name].spec
    gym_env = make_gym(spec.gymnasium_id)
    assert gym_env.observation_space.shape == (spec.obs_dim,)
    assert gym_env.action_space.shape == (spec.act_dim,)
    np.testing.assert_array_equal(gym_env.action_space.high, spec.action_bound)
    np.testing.assert_array_equal(gym_env.action_space.low, -spec.action_bound)
    assert gym_env.spec.max_episode_steps == spec.horizon


def test_budgets_and_ranges_from_reference():
    assert TASKS["hopper"].spec.return_range == (-100.0, 3000.0)
    assert TASKS["swimmer"].spec.return_range == (-100.0, 365.0)
    assert TASKS["inverted_pendulum"].spec.budget == 100_000
    assert TASKS["mountain_car"].spec.eval_every == 1_000
    assert [n for n, t in TASKS.items() if t.spec.has_survival_bonus] == ["hopper", "walker2d", "ant"]
    assert [n for n, t in TASKS.items() if t.spec.has_survival_bonus] == list(SURVIVAL_BONUS_TASKS)


@pytest.mark.parametrize("name", list(TASKS))
def test_truncation_at_horizon(name):
    env = envs.make(name, "cpu")
    state = env.reset(np.array([0, 1], np.uint32), 2)
    zero = np.zeros((2, env.spec.act_dim), np.float32)
    for _ in range(env.spec.horizon):
        assert not state.truncated.any()
        state = env.step(state, zero)
    assert state.truncated.all() and state.done.all() and (state.steps == env.spec.horizon).all()
