"""Task registry: one entry per classic task, by the name the CLI uses."""

from envs.tasks.ant import ANT
from envs.tasks.base import ArrayTask, MujocoTask
from envs.tasks.half_cheetah import HALF_CHEETAH
from envs.tasks.hopper import HOPPER
from envs.tasks.inverted_pendulum import INVERTED_PENDULUM
from envs.tasks.mountain_car import MOUNTAIN_CAR
from envs.tasks.reacher import REACHER
from envs.tasks.swimmer import SWIMMER
from envs.tasks.walker2d import WALKER2D

TASKS: dict[str, MujocoTask | ArrayTask] = {
    task.spec.name: task
    for task in (HOPPER, SWIMMER, INVERTED_PENDULUM, MOUNTAIN_CAR, WALKER2D, HALF_CHEETAH, ANT, REACHER)
}


def get_task(name: str) -> MujocoTask | ArrayTask:
    """The task called ``name``; a one-line ``ValueError`` names the allowed ones otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown env {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
