"""Reset states are drawn from Gymnasium's distributions (our draws come from JAX keys, Gymnasium's from
its own generator, so the numbers differ; the distributions must not).

Each qpos and qvel coordinate of 1000 ``cpu`` resets is compared with 1000 Gymnasium resets by a
two-sample Kolmogorov-Smirnov test, rejecting at 1e-4 per coordinate (~0.1% chance of a false alarm
across the ~70 coordinates of the seven MuJoCo tasks). Uniform instead of Gaussian velocities
(std 0.058 against 0.1) or a target drawn from the square instead of the disc are rejected with
p < 1e-10 at this size.
"""

import jax
import numpy as np
import pytest
from scipy.stats import ks_2samp

import envs
from envs.tasks import TASKS
from envs.tasks.base import MujocoTask
from tests.reference import make_gym

SAMPLES = 1000
MUJOCO_TASKS = [name for name, task in TASKS.items() if isinstance(task, MujocoTask)]


def gymnasium_resets(gymnasium_id: str, count: int):
    gym_env = make_gym(gymnasium_id)
    qpos, qvel = [], []
    for seed in range(count):
        gym_env.reset(seed=seed)
        qpos.append(gym_env.unwrapped.data.qpos.copy())
        qvel.append(gym_env.unwrapped.data.qvel.copy())
    return np.array(qpos), np.array(qvel)


@pytest.mark.parametrize("name", MUJOCO_TASKS)
def test_reset_states_follow_gymnasiums_distribution(name):
    env = envs.make(name, "cpu", nthread=1)
    ours = env.physical_state(env.reset(jax.random.key(0), SAMPLES))
    theirs = gymnasium_resets(TASKS[name].spec.gymnasium_id, SAMPLES)
    for kind, a, b in zip(("qpos", "qvel"), ours, theirs):
        for i in range(a.shape[1]):
            if np.ptp(b[:, i]) == 0:  # a constant in Gymnasium (reacher's target velocity): equal
                np.testing.assert_array_equal(a[:, i], b[0, i], err_msg=f"{name} {kind}[{i}]")
                continue
            p = ks_2samp(a[:, i], b[:, i]).pvalue
            assert p > 1e-4, f"{name} {kind}[{i}]: KS p = {p:.2e}"


def test_reacher_target_inside_the_disc_and_filling_it():
    env = envs.make("reacher", "cpu", nthread=1)
    qpos, _ = env.physical_state(env.reset(jax.random.key(1), 20_000))
    radius = np.hypot(qpos[:, 2], qpos[:, 3])
    assert radius.max() < 0.2 and radius.max() > 0.199
    # Uniform on the disc: P(r < 0.1) = 1/4 (the square's rejection sampling gives the same).
    assert abs(np.mean(radius < 0.1) - 0.25) < 0.01
