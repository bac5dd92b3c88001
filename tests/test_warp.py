"""The ``warp`` engine (MuJoCo Warp, float32) against real Gymnasium, as ``test_parity_mjx`` checks ``mjx`` in float32:
step by step within 1e-3 on hopper and swimmer, full hopper episodes with >= 80% equal lengths and a median relative
return error <= 1e-4 (measured: observations within ~3e-6 over 20 hopper steps; 16/16 equal lengths), the fast
physics profile reaching Warp's model, and its one-line errors."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import envs
from envs.policy import random_params
from envs.tasks import TASKS
from tests.reference import gym_episode, make_gym
from tests.test_physics import _steps, gym_with_fast_settings

pytest.importorskip("mujoco_warp")  # the [warp] extra, part of [test]

_ENVS: dict = {}


def warp_env(name: str, physics: str = "gymnasium"):
    if (name, physics) not in _ENVS:  # kernels compile once per model
        _ENVS[name, physics] = envs.make(name, "warp", physics=physics)
    return _ENVS[name, physics]


@pytest.mark.parametrize("name", ["hopper", "swimmer", "inverted_pendulum"])
def test_steps_match_gymnasium(name):
    task = TASKS[name]
    assert _steps(warp_env(name), make_gym(task.spec.gymnasium_id), task, 3, 100, rtol=1e-3) > 10


def test_fast_steps_match_gymnasium_with_the_fast_settings():
    task = TASKS["hopper"]
    env = warp_env("hopper", "fast")
    assert env.physics == "fast"
    assert _steps(env, gym_with_fast_settings(task.spec.gymnasium_id), task, 3, 100, rtol=1e-3) > 10


def test_hopper_episode_returns():
    task, count = TASKS["hopper"], 16
    spec = task.spec
    env = warp_env("hopper")
    params = random_params(np.random.default_rng(12), count, spec.obs_dim, spec.act_dim)
    obs_mean = np.random.default_rng(4).normal(0.0, 0.1, spec.obs_dim)
    obs_std = np.random.default_rng(5).uniform(0.5, 2.0, spec.obs_dim)
    key = jax.random.key(12)
    result = envs.rollout(env, params, obs_mean, obs_std, key)
    qpos, qvel = env.physical_state(env.reset(key, count))
    gym_env = make_gym(spec.gymnasium_id)
    reference = np.array([gym_episode(gym_env, task, qpos[i], qvel[i], params[i], obs_mean, obs_std)
                          for i in range(count)])
    same = result.lengths == reference[:, 1]
    assert same.mean() >= 0.8, (result.lengths, reference[:, 1])
    relative = np.abs(result.returns[same] - reference[same, 0]) / np.maximum(1.0, np.abs(reference[same, 0]))
    assert np.median(relative) <= 1e-4


def test_mountain_car_runs_its_closed_form_dynamics():
    env, cpu = envs.make("mountain_car", "warp"), envs.make("mountain_car", "cpu", nthread=1)
    params = random_params(np.random.default_rng(0), 4, 2, 1)
    a, b = (envs.rollout(e, params, np.zeros(2), np.ones(2), jax.random.key(0)) for e in (env, cpu))
    np.testing.assert_array_equal(a.returns, b.returns)


def test_warp_is_float32_only():
    with pytest.raises(ValueError, match="the warp engine simulates in float32; dtype 'float64' is not available"):
        envs.make("hopper", "warp", dtype="float64")


def test_without_the_extra_the_error_is_one_line():
    code = ("import sys; sys.modules['warp'] = None\n"
            "import envs\n"
            "try:\n    envs.make('hopper', 'warp')\nexcept ValueError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == ('--engine warp needs warp-lang and mujoco-warp, which are not installed: '
                                   'pip install -e ".[warp]"'), done.stderr[-2000:]


def test_a_run_trains_on_the_warp_engine(tmp_path):
    from fastgen import run
    from tests.tiny import TINY

    args = [*TINY, "--engine", "warp", "--physics", "fast", "--total-steps", "600", "--out", str(tmp_path / "run")]
    assert run.main(args) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["engine"], config["physics"]) == ("warp", "fast")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] >= 600 and np.isfinite(rows[-1]["eval/return"])
