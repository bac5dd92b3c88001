"""Simulation layer of fastgen: eight Gymnasium tasks (the paper's four, walker2d, half_cheetah, ant, reacher) on two
engines, and population rollouts.

``make(name, engine)`` gives an env with ``spec``, ``reset``, ``step`` and ``reset_to``;
``rollout(env, params, obs_mean, obs_std, key)`` runs one episode (or several) of each of P flat
policies, ``rollout_groups`` G such populations at once (e.g. G seeds); ``play(env, act, key, B)`` steps B
episodes of any controller as one batch. No torch here: ``fastgen`` imports ``envs``, never the reverse.
"""

import warnings

from envs.gl import choose_backend

choose_backend()  # before mujoco's first import: it reads MUJOCO_GL then

import mujoco  # noqa: E402

from envs.env import Env
from envs.make import ENGINES, make
from envs.play import play
from envs.policy import num_params, param_shapes
from envs.result import RolloutResult
from envs.rollout import rollout, rollout_groups
from envs.spec import EnvSpec
from envs.state import State
from envs.tasks import TASKS

TASK_NAMES = tuple(TASKS)



def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings as Python RuntimeWarnings. Its default handler also appends them to MUJOCO_LOG.TXT in
    the working directory (a clone's root, for a user training there); any handler of our own replaces that."""
    warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


mujoco.set_mju_user_warning(_mujoco_warning)

__all__ = ["ENGINES", "Env", "TASK_NAMES", "EnvSpec", "RolloutResult", "State", "make", "num_params",
           "param_shapes", "play", "rollout", "rollout_groups"]
