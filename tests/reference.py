"""Independent references for the tests: real Gymnasium, and the policy layout read from docs/paper.md.

Nothing here calls the code under test; it re-derives the published definitions.
"""

import warnings

import gymnasium
import numpy as np

from envs.tasks.base import MujocoTask


def make_gym(gymnasium_id: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gymnasium.make(gymnasium_id)


def physical_state(gym_env, task):
    """The unwrapped Gymnasium env's physical state, as ``reset_to`` takes it (batch of one)."""
    inner = gym_env.unwrapped
    if isinstance(task, MujocoTask):
        return inner.data.qpos.copy()[None], inner.data.qvel.copy()[None]
    return np.array([inner.state[0]], np.float64), np.array([inner.state[1]], np.float64)


def set_physical_state(gym_env, task, qpos, qvel):
    """Put a freshly reset Gymnasium env into a given physical state (the env's own reset path)."""
    inner = gym_env.unwrapped
    if isinstance(task, MujocoTask):
        inner.set_state(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))
        return inner._get_obs()
    inner.state = np.array([qpos, qvel], dtype=np.float64)
    return np.array(inner.state, dtype=np.float32)


def mlp_action(flat: np.ndarray, obs: np.ndarray, obs_dim: int, act_dim: int, bound: float) -> np.ndarray:
    """docs/paper.md's policy, one policy and one observation at a time.

    ``flat`` is ``[W1, b1, W2, b2, W3, b3]``, each W stored (out, in) row-major, 256-256 tanh MLP
    with a tanh output times the action bound.
    """
    widths = [obs_dim, 256, 256, act_dim]
    h, offset = obs.astype(flat.dtype), 0
    for i in range(3):
        n_out, n_in = widths[i + 1], widths[i]
        weight = flat[offset : offset + n_out * n_in].reshape(n_out, n_in)
        offset += n_out * n_in
        bias = flat[offset : offset + n_out]
        offset += n_out
        h = np.tanh(weight @ h + bias)
    assert offset == flat.size
    return h * bound


def gym_episode(gym_env, task, qpos, qvel, flat, obs_mean, obs_std):
    """One Gymnasium episode of one flat policy from a given physical state -> (return, length)."""
    spec = task.spec
    gym_env.reset(seed=0)
    obs = set_physical_state(gym_env, task, qpos, qvel)
    total, length = 0.0, 0
    while True:
        normalised = ((obs - obs_mean) / obs_std).astype(flat.dtype)
        action = mlp_action(flat, normalised, spec.obs_dim, spec.act_dim, spec.action_bound)
        obs, reward, terminated, truncated, _ = gym_env.step(action)
        total += float(reward)
        length += 1
        if terminated or truncated:
            return total, length
