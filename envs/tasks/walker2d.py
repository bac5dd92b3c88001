"""``walker2d``: Gymnasium ``Walker2d-v4`` with its default options.

Observation ``qpos[1:]`` and ``clip(qvel, -10, 10)`` (17 values); reward forward x-velocity + 1
survival bonus - 1e-3 * |a|^2; terminates when unhealthy (torso height z outside (0.8, 2.0) or
torso angle outside (-1, 1)); reset noise uniform +-5e-3 on qpos and qvel. ``reward_no_bonus``
drops the +1, as on hopper.
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask

FORWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
HEALTHY_Z = (0.8, 2.0)
HEALTHY_ANGLE = (-1.0, 1.0)


@dataclass(frozen=True)
class Walker2d(MujocoTask):
    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos[:, 1:], xp.clip(frame.qvel, -10.0, 10.0)], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        forward = FORWARD_WEIGHT * ((after.qpos[:, 0] - before.qpos[:, 0]) / dt)
        ctrl_cost = CTRL_COST_WEIGHT * xp.sum(xp.square(action), axis=1)
        return (forward + HEALTHY_REWARD) - ctrl_cost, forward - ctrl_cost

    def terminated(self, frame: Frame, obs, xp):
        z, angle = frame.qpos[:, 1], frame.qpos[:, 2]
        healthy_z = (HEALTHY_Z[0] < z) & (z < HEALTHY_Z[1])
        healthy_angle = (HEALTHY_ANGLE[0] < angle) & (angle < HEALTHY_ANGLE[1])
        return ~(healthy_z & healthy_angle)


WALKER2D = Walker2d(
    spec=EnvSpec(
        name="walker2d",
        gymnasium_id="Walker2d-v4",
        obs_dim=17,
        act_dim=6,
        action_bound=1.0,
        horizon=1000,
        return_range=(-100.0, 4700.0),
        survival_bonus=HEALTHY_REWARD,
        budget=3_000_000,
        eval_every=10_000,
    ),
    xml_file="walker2d.xml",
    frame_skip=4,
    reset_noise=5e-3,
)
