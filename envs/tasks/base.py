"""The two kinds of task: MuJoCo tasks (physics from an engine) and array tasks (closed-form dynamics).

A task's observation, reward, termination and reset noise are written once here, against an array
namespace ``xp`` (``numpy`` for the ``cpu`` engine, ``jax.numpy`` for ``mjx``), and every function
works on a batch: leading dimension ``B``. The engines only supply the physics.
"""

from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any, NamedTuple

import mujoco

from envs.physics import apply as apply_physics
from envs.spec import EnvSpec


class Frame(NamedTuple):
    """A batch of MuJoCo states as a task reads them.

    Attributes:
        qpos: ``[B, nq]``.
        qvel: ``[B, nv]``.
        xpos: ``[B, len(task.bodies), 3]`` world positions of the task's ``bodies`` as MuJoCo leaves
            them after a step: the kinematics of the state before the last substep, which is what
            Gymnasium's ``get_body_com`` reads (after a reset: of the reset state). ``None`` when the
            task names no bodies.
    """

    qpos: Any
    qvel: Any
    xpos: Any = None


@dataclass(frozen=True)
class MujocoTask:
    """A classic Gymnasium MuJoCo task, loaded from Gymnasium's own XML asset.

    Subclasses define ``observe``, ``reward`` and ``terminated``. ``reset_noise`` is the half-width
    of the uniform noise added to ``qpos0`` and to the zero velocity at reset (tasks whose reset
    differs override ``noise_width`` and ``initial_state``). ``bodies`` names the bodies whose
    positions the task reads (``Frame.xpos``); the engines track them only for such tasks.
    """

    spec: EnvSpec
    xml_file: str
    frame_skip: int
    reset_noise: float
    bodies: tuple[str, ...] = ()

    @cached_property
    def xml_path(self) -> str:
        assets = resources.files("gymnasium.envs.mujoco") / "assets" / self.xml_file
        return str(assets)

    def load_model(self, physics: str = "gymnasium") -> mujoco.MjModel:
        """A fresh ``MjModel`` of the task's XML: as Gymnasium builds it under ``physics="gymnasium"``, with
        ``envs.physics``' changes under ``"fast"``."""
        return apply_physics(mujoco.MjModel.from_xml_path(self.xml_path), physics)

    def noise_width(self, nq: int, nv: int) -> int:
        """How many uniforms in [0, 1) one environment's reset draws."""
        return nq + nv

    def initial_state(self, qpos0, unit, xp):
        """``qpos0 [nq]`` and uniforms ``unit [B, noise_width]`` -> reset state ``(qpos [B, nq], qvel [B, nv])``.

        Default: qpos0 and zero velocity, each plus uniform noise in [-reset_noise, reset_noise).
        """
        noise = uniform(unit, -self.reset_noise, self.reset_noise)
        nq = qpos0.shape[0]
        return qpos0 + noise[:, :nq], noise[:, nq:]

    def observe(self, frame: Frame, xp):
        """``frame`` -> observation ``[B, obs_dim]``."""
        raise NotImplementedError

    def reward(self, before: Frame, after: Frame, action, dt: float, xp):
        """Reward of one env step -> ``(reward [B], reward_no_bonus [B])``.

        ``action [B, act_dim]`` is the action as given (its dtype matters: Gymnasium computes the
        control cost in the action's precision).
        """
        raise NotImplementedError

    def terminated(self, frame: Frame, obs, xp):
        """``[B]`` bool: the episode ends here (before truncation)."""
        raise NotImplementedError

    def outcome(self, before: Frame, after: Frame, action, dt: float, xp):
        """What every engine reports of one env step from the frames around it -> ``(reward [B], reward_no_bonus
        [B], terminated [B], obs [B, obs_dim])``."""
        obs = self.observe(after, xp)
        reward, reward_no_bonus = self.reward(before, after, action, dt, xp)
        return reward, reward_no_bonus, self.terminated(after, obs, xp), obs


def uniform(unit, low: float, high: float):
    """Uniforms in [0, 1) mapped to [low, high) (the same arithmetic as ``envs.noise``, in unit's dtype)."""
    return low + (high - low) * unit


def standard_normal(unit_a, unit_b, xp):
    """Two equally shaped arrays of uniforms in [0, 1) -> standard normals (Box-Muller, cosine branch)."""
    radius = xp.sqrt(-2.0 * xp.log1p(-unit_a))  # log(1 - u): finite, as u < 1
    return radius * xp.cos((2.0 * xp.pi) * unit_b)


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


def uniform_position_normal_velocity(task: MujocoTask, qpos0, unit, xp):
    """qpos0 + U[-s, s) and s * N(0, 1) velocities from ``unit [B, nq + 2 nv]`` (HalfCheetah-v4, Ant-v4)."""
    nq = qpos0.shape[0]
    nv = (unit.shape[1] - nq) // 2
    qpos = qpos0 + uniform(unit[:, :nq], -task.reset_noise, task.reset_noise)
    qvel = task.reset_noise * standard_normal(unit[:, nq : nq + nv], unit[:, nq + nv :], xp)
    return qpos, qvel
