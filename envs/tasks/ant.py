"""``ant``: Gymnasium ``Ant-v4`` with its default options.

Defaults followed: ``use_contact_forces=False`` (no contact forces in the observation, no contact
cost), ``exclude_current_positions_from_observation=True``, ``terminate_when_unhealthy=True``,
``healthy_z_range=(0.2, 1.0)``, ``ctrl_cost_weight=0.5``, ``reset_noise_scale=0.1``.

Observation ``qpos[2:]`` and ``qvel`` (27 values); reward torso x-velocity + 1 survival bonus
- 0.5 * |a|^2, where the velocity is the torso body's position difference over the step as
Gymnasium reads it (``get_body_com("torso")``: MuJoCo's kinematics before the last substep, not
``qpos``); terminates when any of qpos, qvel is not finite or the torso height qpos[2] leaves
[0.2, 1.0]. Reset: qpos0 + uniform noise in [-0.1, 0.1) (the quaternion too, unnormalised, as
Gymnasium does) and velocity 0.1 x a standard normal. ``reward_no_bonus`` drops the +1.
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask, uniform_position_normal_velocity

CTRL_COST_WEIGHT = 0.5
HEALTHY_REWARD = 1.0
HEALTHY_Z = (0.2, 1.0)


@dataclass(frozen=True)
class Ant(MujocoTask):
    def noise_width(self, nq, nv):
        return nq + 2 * nv

    def initial_state(self, qpos0, unit, xp):
        return uniform_position_normal_velocity(self, qpos0, unit, xp)

    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos[:, 2:], frame.qvel], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        forward = (after.xpos[:, 0, 0] - before.xpos[:, 0, 0]) / dt
        ctrl_cost = CTRL_COST_WEIGHT * xp.sum(xp.square(action), axis=1)
        return (forward + HEALTHY_REWARD) - ctrl_cost, forward - ctrl_cost

    def terminated(self, frame: Frame, obs, xp):
        finite = xp.all(xp.isfinite(frame.qpos), axis=1) & xp.all(xp.isfinite(frame.qvel), axis=1)
        z = frame.qpos[:, 2]
        return ~(finite & (HEALTHY_Z[0] <= z) & (z <= HEALTHY_Z[1]))


ANT = Ant(
    spec=EnvSpec(
        name="ant",
        gymnasium_id="Ant-v4",
        obs_dim=27,
        act_dim=8,
        action_bound=1.0,
        horizon=1000,
        return_range=(-1000.0, 4400.0),
        survival_bonus=HEALTHY_REWARD,
        budget=3_000_000,
        eval_every=10_000,
    ),
    xml_file="ant.xml",
    frame_skip=5,
    reset_noise=0.1,
    bodies=("torso",),
)
