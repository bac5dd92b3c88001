"""A Gymnasium ``Env`` over one environment of the ``cpu`` engine, for libraries that want that API.

The task code is the same as in ``envs.rollout`` (bit-identical to Gymnasium's own envs on the
``cpu`` engine), so an agent trained through this wrapper sees exactly our tasks. ``info`` carries
``reward_no_bonus``; finished episodes' returns are appended to ``episode_returns``.
"""

import gymnasium
import jax
import numpy as np

from envs.make import make


class GymEnv(gymnasium.Env):
    """``GymEnv("hopper")``: one env, ``reset(seed=...)`` / ``step(action)`` with Gymnasium's semantics.

    Observations are float64 (``mountain_car``: float32, as Gymnasium's); actions float32 in
    ``[-bound, bound]``, applied as Gymnasium's envs apply them (no clipping of our own).
    """

    metadata = {"render_modes": []}

    def __init__(self, name: str, seed: int = 0, physics: str = "gymnasium"):
        self.env = make(name, "cpu", physics=physics, nthread=1)
        spec = self.env.spec
        self.name = name
        self._key = jax.random.key(seed)
        self._state = None
        obs_dtype = np.asarray(self.env.reset(self._key, 1).obs).dtype
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (spec.obs_dim,), obs_dtype)
        bound = np.full(spec.act_dim, spec.action_bound, np.float32)
        self.action_space = gymnasium.spaces.Box(-bound, bound, dtype=np.float32)
        self._return = 0.0
        self.episode_returns: list[float] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset noise from the env's key (``seed`` restarts it); ``options={"qpos": .., "qvel": ..}``
        starts from that physical state instead (mountain_car: position, velocity), as ``reset_to``."""
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        if options and "qpos" in options:
            self._state = self.env.reset_to(options["qpos"], options["qvel"])
        else:
            self._key, key = jax.random.split(self._key)
            self._state = self.env.reset(key, 1)
        self._return = 0.0
        return self._obs(), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, np.float32).reshape(1, -1)
        self._state = self.env.step(self._state, action)
        s = self._state
        reward = float(s.reward[0])
        self._return += reward
        if s.done[0]:
            self.episode_returns.append(self._return)
        return (self._obs(), reward, bool(s.terminated[0]), bool(s.truncated[0]),
                {"reward_no_bonus": float(s.reward_no_bonus[0])})

    def key_data(self) -> np.ndarray:
        """The reset key's raw data (for checkpoints); ``set_key_data`` restores it."""
        return np.asarray(jax.random.key_data(self._key))

    def set_key_data(self, data) -> None:
        self._key = jax.random.wrap_key_data(np.asarray(data))

    def _obs(self) -> np.ndarray:
        return np.array(self._state.obs[0], dtype=self.observation_space.dtype)
