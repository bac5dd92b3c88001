"""``envs.brax_env``: fastgen tasks as Brax environments, step for step the ``mjx`` engine's, trained by Brax's ARS."""

import jax
import numpy as np
import pytest

brax_envs = pytest.importorskip("brax.envs")  # the [brax] extra, part of [test]

import envs  # noqa: E402
import envs.brax_env  # noqa: E402,F401  (registers fastgen_<task>)


def test_every_task_is_registered():
    for name in envs.TASK_NAMES:
        env = brax_envs.get_environment(f"fastgen_{name}")
        spec = envs.make(name, "cpu", nthread=1).spec
        assert (env.observation_size, env.action_size, env.backend, env.horizon) == (
            spec.obs_dim, spec.act_dim, "mjx", spec.horizon)
    with pytest.raises(ValueError, match="takes only physics="):
        brax_envs.get_environment("fastgen_hopper", backend="generalized")
    assert brax_envs.get_environment("fastgen_hopper", physics="fast").fastgen.physics == "fast"
    with pytest.raises(ValueError, match="unknown physics profile 'quick'"):
        brax_envs.get_environment("fastgen_hopper", physics="quick")


@pytest.mark.slow  # ~1.5 min each on 2 cores: four MJX compilations (Brax's reset and step, ours)
@pytest.mark.parametrize("name", ["hopper", "reacher"])  # a terminating task; one that reads body positions
def test_transitions_equal_the_mjx_engine(name):
    brax_env = brax_envs.get_environment(f"fastgen_{name}")
    reset, step = jax.jit(brax_env.reset), jax.jit(brax_env.step)
    ours = envs.make(name, "mjx")
    key = jax.random.PRNGKey(5)  # Brax's raw uint32[2] key
    state, our_state = reset(key), ours.reset(key, 1)
    np.testing.assert_array_equal(np.asarray(state.obs), np.asarray(our_state.obs[0]))
    rng = np.random.default_rng(0)
    terminated = False
    for _ in range(brax_env.horizon):
        action = rng.uniform(-1, 1, brax_env.action_size).astype(np.float32)
        state, our_state = step(state, action), ours.step(our_state, action[None])
        np.testing.assert_array_equal(np.asarray(state.obs), np.asarray(our_state.obs[0]))
        assert float(state.reward) == float(our_state.reward[0])
        assert float(state.metrics["reward_no_bonus"]) == float(our_state.reward_no_bonus[0])
        assert bool(state.done) == bool(our_state.terminated[0])
        if bool(our_state.terminated[0]):
            terminated = True
            break
    assert terminated or name == "reacher"


@pytest.mark.slow  # ~10 min on 2 busy cores: Brax compiles its training step and its evaluator around MJX hopper
def test_brax_ars_trains_on_fastgen_hopper():
    from brax.training.agents.ars import train as ars

    env = brax_envs.get_environment("fastgen_hopper")
    progress = []
    _, params, metrics = ars.train(env, num_timesteps=4000, episode_length=env.horizon, number_of_directions=2,
                                   top_directions=1, num_eval_envs=2, num_evals=2, normalize_observations=True,
                                   progress_fn=lambda steps, m: progress.append((steps, dict(m))))
    assert progress[-1][0] >= 4000
    returns = [float(m["eval/episode_reward"]) for _, m in progress]
    assert all(np.isfinite(returns)) and all(r > 0 for r in returns)  # hopper: +1 per step survived
    assert params is not None


def test_brax_wrappers_take_the_env_as_their_own():
    """Brax's training and evaluation wrappers (episode limit, auto-reset, vmap, eval metrics) trace through a
    step: the state keeps its structure (what Brax's trainers scan over), checked without compiling."""
    from brax.envs.wrappers import training

    env = training.EvalWrapper(training.wrap(brax_envs.get_environment("fastgen_hopper"), episode_length=1000))
    state = jax.eval_shape(env.reset, jax.random.split(jax.random.PRNGKey(0), 2))
    after = jax.eval_shape(env.step, state, jax.ShapeDtypeStruct((2, 3), np.float32))
    assert jax.tree.structure(after) == jax.tree.structure(state)
    assert after.obs.shape == (2, 11) and set(after.metrics) >= {"reward", "reward_no_bonus"}
