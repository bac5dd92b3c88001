"""Population rollout semantics on the ``cpu`` engine, checked against plain env stepping.

The reference loop below steps the env's functional API one step at a time with an independent
per-policy MLP (tests.reference), stops each episode at its own ``done``, and sums observations
by hand; the rollout must agree exactly (same engine, same operations).
"""

import jax
import numpy as np
import pytest

import envs
from envs.cpu import grid_shards, live_spans, rollout_threads, split_slots
from envs.policy import random_params
from tests.reference import mlp_action


def _reference(env, params, obs_mean, obs_std, key, episodes):
    spec = env.spec
    P = params.shape[0]
    state = env.reset(key, P * episodes)
    alive = np.ones(P * episodes, dtype=bool)
    totals, totals_no_bonus = np.zeros(P * episodes), np.zeros(P * episodes)
    lengths = np.zeros(P * episodes, dtype=int)
    count, obs_sum, obs_sumsq = 0, np.zeros(spec.obs_dim), np.zeros(spec.obs_dim)
    while alive.any():
        actions = np.zeros((P * episodes, spec.act_dim), dtype=params.dtype)
        for sim in np.flatnonzero(alive):
            obs = state.obs[sim]
            count, obs_sum, obs_sumsq = count + 1, obs_sum + obs, obs_sumsq + obs**2
            normalised = ((obs - obs_mean) / obs_std).astype(params.dtype)
            actions[sim] = mlp_action(params[sim // episodes], normalised, spec.obs_dim, spec.act_dim,
                                      spec.action_bound)
        state = env.step(state, actions)
        totals[alive] += state.reward[alive]
        totals_no_bonus[alive] += state.reward_no_bonus[alive]
        lengths[alive] += 1
        alive &= ~state.done
    shape = (P, episodes)
    return (totals.reshape(shape).mean(1), totals_no_bonus.reshape(shape).mean(1),
            lengths.reshape(shape).mean(1), count, obs_sum, obs_sumsq)


@pytest.mark.parametrize("name, P, episodes", [("hopper", 48, 1), ("inverted_pendulum", 5, 3),
                                               ("mountain_car", 3, 2)])
def test_rollout_equals_stepping(name, P, episodes):
    env = envs.make(name, "cpu")
    spec = env.spec
    params = random_params(np.random.default_rng(0), P, spec.obs_dim, spec.act_dim)
    obs_mean = np.random.default_rng(1).normal(0, 0.2, spec.obs_dim)
    obs_std = np.random.default_rng(2).uniform(0.5, 2.0, spec.obs_dim)
    key = jax.random.key(5)
    result = envs.rollout(env, params, obs_mean, obs_std, key, episodes=episodes)
    returns, returns_no_bonus, lengths, count, obs_sum, obs_sumsq = _reference(env, params, obs_mean, obs_std,
                                                                               key, episodes)
    # With E = 1 each policy is a matrix-vector product, as in the reference: exact. With E > 1 the
    # E observations of a policy go through one matrix-matrix product, whose float32 sums round
    # differently (measured 5e-7 relative on the returns).
    tol = 1e-12 if episodes == 1 else 1e-5
    np.testing.assert_array_equal(result.lengths, lengths)
    np.testing.assert_allclose(result.returns, returns, rtol=tol, atol=tol)
    np.testing.assert_allclose(result.returns_no_bonus, returns_no_bonus, rtol=tol, atol=tol)
    assert result.obs_count == count == result.episode_lengths.sum()
    np.testing.assert_allclose(result.obs_sum, obs_sum, rtol=tol)
    np.testing.assert_allclose(result.obs_sumsq, obs_sumsq, rtol=tol)
    assert result.episode_returns.shape == (P, episodes)


def test_hopper_bonus_free_return_is_one_less_per_step():
    env = envs.make("hopper", "cpu")
    spec = env.spec
    params = random_params(np.random.default_rng(3), 16, spec.obs_dim, spec.act_dim)
    result = envs.rollout(env, params, np.zeros(spec.obs_dim), np.ones(spec.obs_dim), jax.random.key(0))
    assert (result.lengths < spec.horizon).all()  # random hoppers fall: terminated, not truncated
    np.testing.assert_allclose(result.returns - result.returns_no_bonus, result.lengths, atol=1e-9)


def test_same_key_same_result_any_thread_count():
    params = random_params(np.random.default_rng(4), 40, 11, 3)
    mean, std = np.zeros(11), np.ones(11)
    one = envs.rollout(envs.make("hopper", "cpu", nthread=1), params, mean, std, jax.random.key(9))
    two = envs.rollout(envs.make("hopper", "cpu", nthread=2), params, mean, std, jax.random.key(9))
    again = envs.rollout(envs.make("hopper", "cpu", nthread=2), params, mean, std, jax.random.key(9))
    other = envs.rollout(envs.make("hopper", "cpu", nthread=2), params, mean, std, jax.random.key(10))
    np.testing.assert_array_equal(one.returns, two.returns)
    np.testing.assert_array_equal(two.returns, again.returns)
    assert not np.array_equal(two.returns, other.returns)


def test_reset_noise_is_the_same_on_both_engines():
    key = jax.random.key(3)
    cpu_env, mjx_env = envs.make("hopper", "cpu"), envs.make("hopper", "mjx")
    cpu_qpos, cpu_qvel = cpu_env.physical_state(cpu_env.reset(key, 4))
    mjx_qpos, mjx_qvel = mjx_env.physical_state(mjx_env.reset(key, 4))
    noise_scale = 5e-3
    assert np.abs(cpu_qvel).max() <= noise_scale and np.abs(cpu_qvel).max() > noise_scale / 2
    np.testing.assert_allclose(np.asarray(mjx_qpos), cpu_qpos, atol=1e-6)  # float32 rounding only
    np.testing.assert_allclose(np.asarray(mjx_qvel), cpu_qvel, atol=1e-9)


def test_live_spans_cover_live_and_bridge_small_gaps():
    live = np.zeros(20, dtype=bool)
    live[[0, 1, 4, 10, 11, 19]] = True
    assert live_spans(live, max_gap=2) == [(0, 5), (10, 12), (19, 20)]
    assert live_spans(live, max_gap=0) == [(0, 2), (4, 5), (10, 12), (19, 20)]
    assert live_spans(np.zeros(5, dtype=bool), 4) == []


def test_grid_shards_cover_the_episode_grid_once():
    for P, episodes, parts in [(256, 1, 2), (5, 1, 2), (1, 10, 2), (3, 4, 8), (1, 1, 2)]:
        covered = np.zeros((P, episodes), dtype=int)
        shards = grid_shards(P, episodes, parts)
        assert len(shards) <= parts
        for ps, es in shards:
            covered[ps, es] += 1
        assert (covered == 1).all(), (P, episodes, parts)
    assert len(grid_shards(1, 10, 2)) == 2  # one policy's evaluation episodes still use both cores


def test_rollout_threads_grow_with_the_population_within_bounds():
    assert [rollout_threads(n, 16) for n in (1, 20, 64, 128, 256, 16384)] == [2, 2, 4, 8, 8, 8]
    assert [rollout_threads(n, 2) for n in (1, 64, 16384)] == [2, 2, 2]  # 2 cores: always both
    assert rollout_threads(16384, 1) == 1


def test_one_policy_many_episodes_split_across_threads():
    params = random_params(np.random.default_rng(6), 1, 4, 1)
    mean, std = np.zeros(4), np.ones(4)
    one = envs.rollout(envs.make("inverted_pendulum", "cpu", nthread=1), params, mean, std, jax.random.key(2), episodes=6)
    two = envs.rollout(envs.make("inverted_pendulum", "cpu", nthread=2), params, mean, std, jax.random.key(2), episodes=6)
    np.testing.assert_array_equal(one.episode_lengths, two.episode_lengths)
    np.testing.assert_allclose(one.episode_returns, two.episode_returns, rtol=1e-6)


@pytest.mark.parametrize("slots, sizes", [(3, [10, 10]), (1, [10, 10]), (7, [5, 5]), (100, [5, 5]), (5, [1, 9]),
                                          (2, [1, 1, 1]), (None, [3, 4])])
def test_slots_are_split_over_the_shards_by_their_jobs(slots, sizes):
    shares = split_slots(slots, sizes)
    assert all(1 <= share <= size for share, size in zip(shares, sizes))
    expected = sum(sizes) if slots is None else max(len(sizes), min(slots, sum(sizes)))
    assert sum(shares) == expected
