"""Environment state: a batch of B environments, a pytree on the ``mjx`` engine."""

from dataclasses import dataclass
from typing import Any

import jax


@dataclass
class State:
    """B environments after a reset or a step (every field has leading dimension B).

    Attributes:
        physics: the engine's physical state. ``cpu``: MuJoCo integration-state rows
            ``[B, mj_stateSize(mjSTATE_INTEGRATION)]`` (qpos, qvel, warm start, ctrl, ...), followed by
            the ``3 * len(task.bodies)`` body positions of tasks that read them, or the
            array task's ``[B, 2]``; ``mjx``: a batched ``mjx.Data`` or ``[B, 2]``.
        obs: ``[B, obs_dim]`` observation.
        reward: ``[B]`` the env's own reward for the last step (0 after reset).
        reward_no_bonus: ``[B]`` the reward without the survival bonus (= reward where none).
        terminated: ``[B]`` bool, the task's termination condition.
        truncated: ``[B]`` bool, the horizon was reached.
        done: ``[B]`` bool, terminated or truncated.
        steps: ``[B]`` int32, env steps since reset.
    """

    physics: Any
    obs: Any
    reward: Any
    reward_no_bonus: Any
    terminated: Any
    truncated: Any
    done: Any
    steps: Any


jax.tree_util.register_dataclass(
    State,
    data_fields=["physics", "obs", "reward", "reward_no_bonus", "terminated", "truncated", "done", "steps"],
    meta_fields=[],
)
