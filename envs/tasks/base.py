"""The two kinds of task: MuJoCo tasks (physics from an engine) and array tasks (closed-form dynamics).

A task's observation, reward, termination and reset noise are written once here, against an array
namespace ``xp`` (``numpy`` for the ``cpu`` engine, ``jax.numpy`` for ``mjx``), and every function
works on a batch: leading dimension ``B``. The engines only supply the physics.
"""

from dataclasses import dataclass
from functools import cached_property
from importlib import resources

import mujoco

from envs.spec import EnvSpec


@dataclass(frozen=True)
class MujocoTask:
    """A classic Gymnasium MuJoCo task, loaded from Gymnasium's own XML asset.

    Subclasses define ``observe``, ``reward`` and ``terminated``. ``reset_noise`` is the half-width
    of the uniform noise added to ``qpos0`` and to the zero velocity at reset.
    """

    spec: EnvSpec
    xml_file: str
    frame_skip: int
    reset_noise: float

    @cached_property
    def xml_path(self) -> str:
        assets = resources.files("gymnasium.envs.mujoco") / "assets" / self.xml_file
        return str(assets)

    def load_model(self) -> mujoco.MjModel:
        """A fresh ``MjModel`` of the task's XML, as Gymnasium builds it (no option changed)."""
        return mujoco.MjModel.from_xml_path(self.xml_path)

    def observe(self, qpos, qvel, xp):
        """``qpos [B, nq]``, ``qvel [B, nv]`` -> observation ``[B, obs_dim]``."""
        raise NotImplementedError

    def reward(self, qpos_before, qpos_after, action, dt: float, xp):
        """Reward of one env step -> ``(reward [B], reward_no_bonus [B])``.

        ``action [B, act_dim]`` is the action as given (its dtype matters: Gymnasium computes the
        control cost in the action's precision).
        """
        raise NotImplementedError

    def terminated(self, qpos, qvel, obs, xp):
        """``[B]`` bool: the episode ends here (before truncation)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ArrayTask:
    """A task whose dynamics are closed-form array code (classic control), no MuJoCo."""

    spec: EnvSpec

    def initial_state(self, unit, xp):
        """Uniforms ``unit [B, n_noise]`` in [0, 1) -> initial physical state ``[B, state_dim]``."""
        raise NotImplementedError

    def observe(self, state, xp):
        """``state [B, state_dim]`` -> observation ``[B, obs_dim]``."""
        raise NotImplementedError

    def advance(self, state, action, first, xp):
        """One env step -> ``(state, reward [B], terminated [B])``.

        ``first [B]`` marks the first step after a reset (Gymnasium computes it in another
        precision on mountain_car).
        """
        raise NotImplementedError
