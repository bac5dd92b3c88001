"""``inverted_pendulum``: Gymnasium ``InvertedPendulum-v4`` (= InvertedPendulum-v2 semantics).

Observation ``qpos, qvel`` (4 values); reward 1 every step, the terminal one included; terminates
when the pole angle leaves [-0.2, 0.2] or the observation is not finite.
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import Frame, MujocoTask

MAX_ANGLE = 0.2


@dataclass(frozen=True)
class InvertedPendulum(MujocoTask):
    def observe(self, frame: Frame, xp):
        return xp.concatenate([frame.qpos, frame.qvel], axis=1)

    def reward(self, before: Frame, after: Frame, action, dt, xp):
        one = xp.ones(after.qpos.shape[0], dtype=after.qpos.dtype)
        return one, one

    def terminated(self, frame: Frame, obs, xp):
        return ~xp.all(xp.isfinite(obs), axis=1) | (xp.abs(obs[:, 1]) > MAX_ANGLE)


INVERTED_PENDULUM = InvertedPendulum(
    spec=EnvSpec(
        name="inverted_pendulum",
        gymnasium_id="InvertedPendulum-v4",
        obs_dim=4,
        act_dim=1,
        action_bound=3.0,
        horizon=1000,
        return_range=(0.0, 1000.0),
        survival_bonus=0.0,
        budget=100_000,
        eval_every=1_000,
    ),
    xml_file="inverted_pendulum.xml",
    frame_skip=2,
    reset_noise=0.01,
)
