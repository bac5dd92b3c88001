"""Bad input gets a one-line ValueError that names the bad value and what is allowed."""

import jax
import numpy as np
import pytest

import envs
from envs.policy import num_params

HOPPER_D = num_params(11, 3)


def _rollout(params=None, mean=None, std=None, episodes=1):
    env = envs.make("hopper", "cpu")
    params = np.zeros((2, HOPPER_D), np.float32) if params is None else params
    mean = np.zeros(11) if mean is None else mean
    std = np.ones(11) if std is None else std
    return envs.rollout(env, params, mean, std, jax.random.key(0), episodes=episodes)


def _one_line(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_task():
    with pytest.raises(ValueError) as e:
        envs.make("walker", "cpu")
    _one_line(e, "'walker'", "hopper", "swimmer", "inverted_pendulum", "mountain_car")


def test_unknown_engine():
    with pytest.raises(ValueError) as e:
        envs.make("hopper", "gpu")
    _one_line(e, "'gpu'", "cpu", "mjx")


def test_bad_dtype_and_threads():
    with pytest.raises(ValueError) as e:
        envs.make("hopper", "mjx", dtype="float16")
    _one_line(e, "'float16'", "float32", "float64")
    with pytest.raises(ValueError) as e:
        envs.make("hopper", "cpu", nthread=0)
    _one_line(e, "nthread", "0")


def test_mjx_dtype_must_match_process_precision():
    wrong = "float32" if jax.config.jax_enable_x64 else "float64"
    with pytest.raises(ValueError) as e:
        envs.make("hopper", "mjx", dtype=wrong)
    _one_line(e, wrong, "JAX_ENABLE_X64")


def test_empty_population():
    with pytest.raises(ValueError) as e:
        _rollout(np.zeros((0, HOPPER_D), np.float32))
    _one_line(e, "P >= 1", "P = 0")


def test_wrong_weight_count():
    with pytest.raises(ValueError) as e:
        _rollout(np.zeros((2, HOPPER_D - 1), np.float32))
    _one_line(e, str(HOPPER_D - 1), str(HOPPER_D))
    with pytest.raises(ValueError) as e:
        _rollout(np.zeros(HOPPER_D, np.float32))
    _one_line(e, "[P, D]", str(HOPPER_D))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(bad):
    params = np.zeros((3, HOPPER_D), np.float32)
    params[1, 17] = bad
    with pytest.raises(ValueError) as e:
        _rollout(params)
    _one_line(e, "policy 1", "NaN or inf")


def test_bad_normalisation():
    with pytest.raises(ValueError) as e:
        _rollout(std=np.zeros(11))
    _one_line(e, "obs_std", "> 0")
    with pytest.raises(ValueError) as e:
        _rollout(mean=np.zeros(5))
    _one_line(e, "obs_mean", "(11,)", "(5,)")
    with pytest.raises(ValueError) as e:
        _rollout(mean=np.full(11, np.nan))
    _one_line(e, "obs_mean", "NaN")


@pytest.mark.parametrize("episodes", [0, -1, 1.5])
def test_bad_episode_count(episodes):
    with pytest.raises(ValueError) as e:
        _rollout(episodes=episodes)
    _one_line(e, "episodes", str(episodes))


def test_non_finite_jax_weights_are_refused():
    params = jax.numpy.zeros((3, HOPPER_D), jax.numpy.float32).at[2, 5].set(jax.numpy.nan)
    with pytest.raises(ValueError) as e:
        _rollout(params)
    _one_line(e, "policy 2", "NaN or inf")


def test_jax_weights_reach_the_mjx_engine_without_a_host_copy(monkeypatch):
    """Validation of a JAX array stays on its device: the engine gets the very same array."""
    env = envs.make("inverted_pendulum", "mjx")
    params = jax.numpy.zeros((2, num_params(4, 1)), jax.numpy.float32)
    seen = []
    monkeypatch.setattr(env, "rollout", lambda p, *args: seen.append(p))
    envs.rollout(env, params, np.zeros(4), np.ones(4), jax.random.key(0))
    assert seen[0] is params


def test_mujoco_warnings_become_python_warnings_and_no_log_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = envs.make("hopper", "cpu", nthread=2)
    model = envs.TASKS["hopper"].load_model()
    with pytest.warns(RuntimeWarning, match="MuJoCo: Nan, Inf or huge value"):
        env.reset_to(np.tile(model.qpos0, (4, 1)), np.full((4, model.nv), 1e30))  # blows up at once
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
