"""``reacher``: Gymnasium ``Reacher-v4``.

Observation (11 values): cos and sin of the two arm angles, the target position ``qpos[2:]``, the
arm's angular velocities ``qvel[:2]`` and fingertip - target (3 values, body positions as
Gymnasium's ``get_body_com`` reads them after the step). Reward -|fingertip - target| - |a|^2 with
the distance taken *before* the step (Gymnasium computes it first); never terminates, truncated
at 50 steps. Reset: arm angles qpos0 + uniform noise in [-0.1, 0.1), the target uniform in the
open disc of radius 0.2 (Gymnasium rejection-samples the square [-0.2, 0.2)^2; we draw the same
distribution in polar form, no loop), arm velocities uniform in [-0.005, 0.005), target velocity 0.
"""

from dataclasses import dataclass

import numpy as np

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask, uniform

ARM_NOISE = 0.1
VELOCITY_NOISE = 0.005
TARGET_RADIUS = 0.2
FINGERTIP, TARGET = 0, 1  # rows of Frame.xpos, in the order of ``bodies``


def _distance(frame: Frame, xp):
    vec = frame.xpos[:, FINGERTIP] - frame.xpos[:, TARGET]
    if xp is np:
        # Gymnasium's np.linalg.norm is a BLAS dot whose rounding (FMA or not) follows the CPU's kernel; a
        # vector-vector matmul runs that same dot, so the cpu engine matches it on every machine.
        return np.sqrt((vec[:, None, :] @ vec[:, :, None])[:, 0, 0])
    # jax: a plain sum, as matmuls may run in TF32 on GPUs.
    return xp.sqrt(xp.sum(xp.square(vec), axis=1))


@dataclass(frozen=True)
class Reacher(MujocoTask):
    def noise_width(self, nq, nv):
        return nq + 2 + nv

    def initial_state(self, qpos0, unit, xp):
        nq = qpos0.shape[0]
        arm = qpos0[:2] + uniform(unit[:, :2], -ARM_NOISE, ARM_NOISE)
        radius = TARGET_RADIUS * xp.sqrt(unit[:, nq])
        angle = (2.0 * xp.pi) * unit[:, nq + 1]
        target = xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=1)
        arm_velocity = uniform(unit[:, nq + 2 : nq + 4], -VELOCITY_NOISE, VELOCITY_NOISE)
        qpos = xp.concatenate([arm, target], axis=1)
        qvel = xp.concatenate([arm_velocity, xp.zeros_like(arm_velocity)], axis=1)
        return qpos, qvel

    def observe(self, frame: Frame, xp):
        theta, qpos = frame.qpos[:, :2], frame.qpos
        vec = frame.xpos[:, FINGERTIP] - frame.xpos[:, TARGET]
        return xp.concatenate([xp.cos(theta), xp.sin(theta), qpos[:, 2:], frame.qvel[:, :2], vec], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        # Gymnasium: reward_dist + reward_ctrl, with reward_ctrl in the action's precision.
        reward = -_distance(before, xp) + -xp.sum(xp.square(action), axis=1)
        return reward, reward

    def terminated(self, frame: Frame, obs, xp):
        return xp.zeros(frame.qpos.shape[0], dtype=bool)


REACHER = Reacher(
    spec=EnvSpec(
        name="reacher",
        gymnasium_id="Reacher-v4",
        obs_dim=11,
        act_dim=2,
        action_bound=1.0,
        horizon=50,
        return_range=(-100.0, -3.6),
        survival_bonus=0.0,
        budget=1_000_000,
        eval_every=10_000,
    ),
    xml_file="reacher.xml",
    frame_skip=2,
    reset_noise=ARM_NOISE,
    bodies=("fingertip", "target"),
)
