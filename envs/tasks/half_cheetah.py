"""``half_cheetah``: Gymnasium ``HalfCheetah-v4`` with its default options.

Observation ``qpos[1:]`` and ``qvel`` (17 values, unclipped); reward forward x-velocity - 0.1 * |a|^2;
never terminates, truncated at 1000 steps. Reset: qpos0 + uniform noise in [-0.1, 0.1) and velocity
0.1 x a standard normal (Gymnasium's only task here with Gaussian reset velocities; we draw the
normals by Box-Muller from the key's uniforms, the same distribution, other numbers).
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask, uniform_position_normal_velocity

FORWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 0.1


@dataclass(frozen=True)
class HalfCheetah(MujocoTask):
    def noise_width(self, nq, nv):
        return nq + 2 * nv

    def initial_state(self, qpos0, unit, xp):
        return uniform_position_normal_velocity(self, qpos0, unit, xp)

    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos[:, 1:], frame.qvel], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        forward = FORWARD_WEIGHT * ((after.qpos[:, 0] - before.qpos[:, 0]) / dt)
        reward = forward - CTRL_COST_WEIGHT * xp.sum(xp.square(action), axis=1)
        return reward, reward

    def terminated(self, frame: Frame, obs, xp):
        return xp.zeros(frame.qpos.shape[0], dtype=bool)


HALF_CHEETAH = HalfCheetah(
    spec=EnvSpec(
        name="half_cheetah",
        gymnasium_id="HalfCheetah-v4",
        obs_dim=17,
        act_dim=6,
        action_bound=1.0,
        horizon=1000,
        return_range=(-600.0, 9600.0),
        survival_bonus=0.0,
        budget=3_000_000,
        eval_every=10_000,
    ),
    xml_file="half_cheetah.xml",
    frame_skip=5,
    reset_noise=0.1,
)
