"""``swimmer``: Gymnasium ``Swimmer-v4`` (= Swimmer-v3 semantics), paper appendix C.

Observation ``qpos[2:]`` and ``qvel`` (8 values); reward forward x-velocity - 1e-4 * |a|^2; never
terminates, truncated at 1000 steps.
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask

FORWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 1e-4


@dataclass(frozen=True)
class Swimmer(MujocoTask):
    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos[:, 2:], frame.qvel], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        x_velocity = (after.qpos[:, 0] - before.qpos[:, 0]) / dt
        reward = FORWARD_WEIGHT * x_velocity - CTRL_COST_WEIGHT * xp.sum(xp.square(action), axis=1)
        return reward, reward

    def terminated(self, frame: Frame, obs, xp):
        return xp.zeros(frame.qpos.shape[0], dtype=bool)


SWIMMER = Swimmer(
    spec=EnvSpec(
        name="swimmer",
        gymnasium_id="Swimmer-v4",
        obs_dim=8,
        act_dim=2,
        action_bound=1.0,
        horizon=1000,
        return_range=(-100.0, 365.0),
        survival_bonus=0.0,
        budget=3_000_000,
        eval_every=10_000,
    ),
    xml_file="swimmer.xml",
    frame_skip=4,
    reset_noise=0.1,
)
