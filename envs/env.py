"""``Env``: what both engines (``envs.cpu.CpuEnv``, ``envs.mjx_env.MjxEnv``) provide, and all that ``fastgen``
relies on. ``envs.make`` returns one; ``isinstance(env, Env)`` checks the methods are there."""

from typing import Protocol, runtime_checkable

from envs.result import RolloutResult
from envs.spec import EnvSpec
from envs.state import State


@runtime_checkable
class Env(Protocol):
    spec: EnvSpec
    """obs_dim, act_dim, action bound, horizon, return range, budget."""
    engine: str
    """``"cpu"`` or ``"mjx"`` (``envs.ENGINES``)."""
    physics: str
    """The ``envs.physics`` profile its models are simulated with: ``"gymnasium"`` or ``"fast"``."""

    def reset(self, key, num_envs: int = 1) -> State:
        """``num_envs`` environments with the task's reset noise drawn from the JAX key ``key``."""

    def reset_to(self, qpos, qvel) -> State:
        """Environments started from given physical states ``qpos [B, nq]``, ``qvel [B, nv]`` (mountain_car:
        position ``[B]``, velocity ``[B]``): the parity hook."""

    def step(self, state: State, action) -> State:
        """One env step of every environment with ``action [B, act_dim]``."""

    def physical_state(self, state: State):
        """``(qpos [B, nq], qvel [B, nv])`` of ``state`` (mountain_car: position, velocity)."""

    def rollout(self, params, obs_mean, obs_std, key, episodes: int = 1, slots: int | None = None) -> RolloutResult:
        """``episodes`` episodes of each of P flat policies ``params [P, D]`` on at most ``slots`` environments
        at once (validated by ``envs.rollout``)."""

    def rollout_groups(self, params, obs_mean, obs_std, keys, episodes: int = 1,
                       slots: int | None = None) -> list[RolloutResult]:
        """G populations ``params [G, P, D]`` with their own normalisation and keys (``envs.rollout_groups``)."""
