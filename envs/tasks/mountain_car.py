"""``mountain_car``: Gymnasium ``MountainCarContinuous-v0``, reproduced to the bit on ``cpu``.

State ``(position, velocity)``; reward +100 on reaching position >= 0.45 with velocity >= 0
(which terminates), minus 0.1 * a^2 every step; truncated after 999 steps.

Gymnasium's arithmetic has a precision pattern that this module reproduces exactly: the state is
stored as float32 after every step, the reset state is float64 (so the first step is computed in
float64), later steps mix float32 state with float64 Python scalars under numpy's promotion rules
(``cos`` is evaluated in float64, then rounded), and the observation returned by reset is the
float32 rounding of the float64 state. ``xp`` scalar promotion is the same in numpy 2 and JAX, so
writing the step with Python-float constants and explicit casts reproduces it. Actions outside
[-1, 1] are clipped in the action's precision (Gymnasium clips to a Python float there; the forces
then differ in the last float32 bit).
"""

from dataclasses import dataclass

from envs.spec import EnvSpec
from envs.tasks.base import ArrayTask

MIN_POSITION, MAX_POSITION = -1.2, 0.6
MAX_SPEED = 0.07
GOAL_POSITION, GOAL_VELOCITY = 0.45, 0.0
POWER = 0.0015
RESET_LOW, RESET_HIGH = -0.6, -0.4


def _advance(position, velocity, force, xp):
    """Gymnasium's update and goal test, in the dtype of ``position``/``velocity``."""
    cos_term = 0.0025 * xp.cos((3 * position).astype(xp.float64 if _has_f64(xp) else position.dtype))
    push = force * POWER - cos_term.astype(force.dtype)
    velocity = velocity + push.astype(velocity.dtype)
    velocity = xp.clip(velocity, -MAX_SPEED, MAX_SPEED)
    position = xp.clip(position + velocity, MIN_POSITION, MAX_POSITION)
    velocity = xp.where((position == MIN_POSITION) & (velocity < 0), xp.zeros_like(velocity), velocity)
    terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
    return position, velocity, terminated


def _has_f64(xp) -> bool:
    return xp.zeros(0, dtype=float).dtype.itemsize == 8


@dataclass(frozen=True)
class MountainCar(ArrayTask):
    def initial_state(self, unit, xp):
        position = RESET_LOW + (RESET_HIGH - RESET_LOW) * unit[:, 0]
        return xp.stack([position, xp.zeros_like(position)], axis=1)

    def observe(self, state, xp):
        return state.astype(xp.float32).astype(state.dtype)

    def advance(self, state, action, first, xp):
        """``state [B, 2]`` in the env's dtype, ``action [B, 1]`` -> (state, reward, terminated)."""
        force = xp.clip(action[:, 0], -1.0, 1.0)
        wide = _advance(state[:, 0], state[:, 1], force, xp)
        narrow = _advance(state[:, 0].astype(xp.float32), state[:, 1].astype(xp.float32), force, xp)
        position = xp.where(first, wide[0], narrow[0].astype(state.dtype))
        velocity = xp.where(first, wide[1], narrow[1].astype(state.dtype))
        terminated = xp.where(first, wide[2], narrow[2])
        action_wide = action[:, 0].astype(state.dtype)
        effort = action_wide * action_wide * 0.1
        reward = xp.where(terminated, 100.0 - effort, -effort)
        stored = xp.stack([position, velocity], axis=1).astype(xp.float32).astype(state.dtype)
        return stored, reward, terminated


MOUNTAIN_CAR = MountainCar(
    spec=EnvSpec(
        name="mountain_car",
        gymnasium_id="MountainCarContinuous-v0",
        obs_dim=2,
        act_dim=1,
        action_bound=1.0,
        horizon=999,
        return_range=(-100.0, 100.0),
        survival_bonus=0.0,
        budget=100_000,
        eval_every=1_000,
    ),
)
