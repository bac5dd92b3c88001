"""``env.step`` and ``env.reset_to`` at the boundary, on both engines: ``[act_dim]`` for a batch of one works as
``[1, act_dim]`` does; a wrong batch, width or non-finite value is one ValueError naming it, before simulation."""

import jax
import numpy as np
import pytest

import envs
from envs.state import State


@pytest.mark.parametrize("name, engine", [("hopper", "cpu"), ("mountain_car", "cpu"), ("mountain_car", "mjx")])
def test_one_env_takes_a_flat_action_like_a_batch_of_one(name, engine):
    env = envs.make(name, engine)
    action = np.full(env.spec.act_dim, 0.3, np.float32)
    flat = env.step(env.reset(jax.random.key(3)), action)
    batched = env.step(env.reset(jax.random.key(3)), action[None])
    np.testing.assert_array_equal(np.asarray(flat.obs), np.asarray(batched.obs))
    assert np.asarray(flat.obs).shape == (1, env.spec.obs_dim)


def _fake_state(batch: int, obs_dim: int) -> State:
    """Only ``obs``'s shape is read before an action is refused: no simulation (and no MJX compile) needed."""
    zeros = np.zeros(batch)
    return State(None, np.zeros((batch, obs_dim)), zeros, zeros, zeros, zeros, zeros, zeros)


@pytest.mark.parametrize("engine", ["cpu", "mjx"])
@pytest.mark.parametrize("batch, action, message", [
    (1, np.zeros(2), r"action must be \[B, act_dim\] = \[1, 3\] \(or \[3\] for one env\), got shape \(2,\)"),
    (2, np.zeros(3), r"action must be \[B, act_dim\] = \[2, 3\], got shape \(3,\)"),
    (2, np.zeros((3, 3)), r"got shape \(3, 3\)"),
    (1, np.array([[0.0, np.nan, 0.0]]), r"action must be finite, got nan \(env 0\)"),
    (2, np.array([[0.0, 0.0, 0.0], [np.inf, 0.0, 0.0]]), r"action must be finite, got inf \(env 1\)"),
    (1, np.array(["a", "b", "c"]), "action must be numbers"),
])
def test_a_wrong_action_is_refused_in_one_line(engine, batch, action, message):
    env = envs.make("hopper", engine)
    with pytest.raises(ValueError, match=message):
        env.step(_fake_state(batch, env.spec.obs_dim), action)


@pytest.mark.parametrize("engine", ["cpu", "mjx"])
@pytest.mark.parametrize("qpos, qvel, message", [
    (np.zeros(5), np.zeros(6), r"qpos and qvel must be \[B, 6\] and \[B, 6\] \(\[6\] and \[6\] for one env\), "
                               r"got shapes \(1, 5\) and \(1, 6\)"),
    (np.zeros((2, 6)), np.zeros((3, 6)), r"got shapes \(2, 6\) and \(3, 6\)"),
    (np.full(6, np.nan), np.zeros(6), r"qpos must be finite, got nan \(env 0\)"),
])
def test_a_wrong_reset_state_is_refused_in_one_line(engine, qpos, qvel, message):
    with pytest.raises(ValueError, match=message):
        envs.make("hopper", engine).reset_to(qpos, qvel)


def test_reset_to_takes_one_envs_state_without_the_batch_axis():
    env = envs.make("hopper", "cpu")
    qpos, qvel = env.physical_state(env.reset(jax.random.key(1)))
    one = env.reset_to(qpos[0], qvel[0])
    np.testing.assert_array_equal(one.obs, env.reset_to(qpos, qvel).obs)
    with pytest.raises(ValueError, match=r"position and velocity must both be \[B\]"):
        envs.make("mountain_car", "cpu").reset_to(np.zeros(2), np.zeros(3))
