"""Any fastgen task as a Brax environment, simulated on the ``mjx`` engine (``pip install -e ".[brax]"``).

    import brax.envs, envs.brax_env  # registers fastgen_<task> for every task
    env = brax.envs.get_environment("fastgen_hopper")
    from brax.training.agents.ars import train as ars
    make_policy, params, metrics = ars.train(env, num_timesteps=..., episode_length=env.horizon)

An episode is the fastgen task's, step for step: the same observation, reward, termination and reset
noise (a Brax reset key is a fastgen key: ``reset(key)`` starts where ``envs.make(task, "mjx").reset(key, 1)``
does). Brax's convention for ``done`` is followed: it is the task's termination only, and the horizon
(Gymnasium's TimeLimit, ``horizon``) is Brax's ``episode_length`` (its EpisodeWrapper then marks the
truncation). ``metrics["reward_no_bonus"]`` is the reward without the survival bonus.

The whole fastgen ``State`` (physics and step count) is the Brax state's ``pipeline_state``, so Brax's
auto-reset restores it whole; it is not a ``brax.base.State`` and Brax's renderer cannot draw it.
"""

import jax
from brax.envs import base as brax_base
from brax.envs import register_environment

from envs.make import make
from envs.tasks import TASKS

PREFIX = "fastgen_"


class FastgenEnv(brax_base.Env):
    """``FastgenEnv("hopper")``: one environment of a fastgen task (Brax vmaps it); float dtype per JAX's x64 mode."""

    def __init__(self, task: str = "hopper", physics: str = "gymnasium", **kwargs):
        if kwargs:
            raise ValueError(f"{PREFIX}{task} takes only physics=, got {', '.join(sorted(kwargs))}")
        self.fastgen = make(task, "mjx", physics=physics)
        self.spec = self.fastgen.spec

    @property
    def observation_size(self) -> int:
        return self.spec.obs_dim

    @property
    def action_size(self) -> int:
        return self.spec.act_dim

    @property
    def backend(self) -> str:
        return "mjx"

    @property
    def horizon(self) -> int:
        """Gymnasium's episode length for the task: pass it to Brax's trainers as ``episode_length``."""
        return self.spec.horizon

    def reset(self, rng: jax.Array) -> brax_base.State:
        return self._brax_state(self.fastgen.traced_reset(rng, 1))

    def step(self, state: brax_base.State, action: jax.Array) -> brax_base.State:
        batched = jax.tree.map(lambda x: x[None], state.pipeline_state)
        return self._brax_state(self.fastgen.traced_step(batched, action[None]), state)

    def _brax_state(self, batched, previous: brax_base.State | None = None) -> brax_base.State:
        """Our batch of one -> a Brax state. ``previous``'s ``info`` and ``metrics`` are carried (with ours
        updated): Brax's wrappers add their own entries at reset and expect them back from every step."""
        inner = jax.tree.map(lambda x: x[0], batched)
        done = inner.terminated.astype(inner.reward.dtype)
        metrics = {} if previous is None else dict(previous.metrics)
        metrics["reward_no_bonus"] = inner.reward_no_bonus
        info = {} if previous is None else previous.info
        return brax_base.State(pipeline_state=inner, obs=inner.obs, reward=inner.reward, done=done,
                               metrics=metrics, info=info)


def _register() -> None:
    for task in TASKS:
        register_environment(f"{PREFIX}{task}", lambda task=task, **kwargs: FastgenEnv(task, **kwargs))


_register()
