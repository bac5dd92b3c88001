"""``hopper``: Gymnasium ``Hopper-v4`` (= Hopper-v3 semantics), paper appendix C.

Observation ``qpos[1:]`` and ``clip(qvel, -10, 10)`` (11 values); reward forward velocity + 1
survival bonus - 1e-3 * |a|^2; terminates when unhealthy (z <= 0.7, |angle| >= 0.2, or any of
``qpos[2:], qvel`` outside (-100, 100)). ``reward_no_bonus`` drops the +1 (ARS, and the paper's
training returns).
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask

FORWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
HEALTHY_STATE = (-100.0, 100.0)
HEALTHY_Z_MIN = 0.7
HEALTHY_ANGLE = (-0.2, 0.2)


@dataclass(frozen=True)
class Hopper(MujocoTask):
    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos[:, 1:], xp.clip(frame.qvel, -10.0, 10.0)], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        x_velocity = (after.qpos[:, 0] - before.qpos[:, 0]) / dt
        forward = FORWARD_WEIGHT * x_velocity
        ctrl_cost = CTRL_COST_WEIGHT * xp.sum(xp.square(action), axis=1)
        # Gymnasium's order of operations: (forward + healthy) - cost.
        reward = (forward + HEALTHY_REWARD) - ctrl_cost
        return reward, forward - ctrl_cost

    def terminated(self, frame: Frame, obs, xp):
        z, angle = frame.qpos[:, 1], frame.qpos[:, 2]
        rest = xp.concatenate([frame.qpos[:, 2:], frame.qvel], axis=1)
        low, high = HEALTHY_STATE
        healthy_state = xp.all((low < rest) & (rest < high), axis=1)
        healthy_z = (HEALTHY_Z_MIN < z) & (z < xp.inf)
        healthy_angle = (HEALTHY_ANGLE[0] < angle) & (angle < HEALTHY_ANGLE[1])
        return ~(healthy_state & healthy_z & healthy_angle)


HOPPER = Hopper(
    spec=EnvSpec(
        name="hopper",
        gymnasium_id="Hopper-v4",
        obs_dim=11,
        act_dim=3,
        action_bound=1.0,
        horizon=1000,
        return_range=(-100.0, 3000.0),
        survival_bonus=HEALTHY_REWARD,
        budget=3_000_000,
        eval_every=10_000,
    ),
    xml_file="hopper.xml",
    frame_skip=4,
    reset_noise=5e-3,
)
