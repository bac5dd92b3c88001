"""Upside-down RL's settings (``fastgen.algorithms.Settings``): the --udrl section, its per-task presets and their
validation."""

import dataclasses
from dataclasses import dataclass

from fastgen.errors import require_at_least, require_positive

# Hidden nonlinearity, learning rate, last_few. The paper's four: appendix A.1, tuned per task; the
# other tasks: untuned, swimmer's preset.
UDRL_PRESETS = {task: dict(zip(("activation", "lr", "last_few"), values)) for task, values in {
    "swimmer": ("relu", 1e-3, 10), "hopper": ("relu", 1e-5, 10),
    "inverted_pendulum": ("tanh", 1e-3, 1), "mountain_car": ("relu", 1e-5, 1),
    **{task: ("relu", 1e-3, 10) for task in ("walker2d", "half_cheetah", "ant", "reacher")}}.items()}


@dataclass
class UdrlConfig:
    """Upside-down RL (--algo udrl); defaults from Srivastava et al. 2019 unless per task."""

    activation: str | None = None
    """Hidden nonlinearity of the behaviour function, relu or tanh (default per task, paper A.1:
    tanh on inverted_pendulum, else relu)."""
    lr: float | None = None
    """Adam learning rate (default per task: 1e-5 hopper/mountain_car, 1e-3 otherwise)."""
    last_few: int | None = None
    """Exploration commands come from the best this-many episodes (default per task: 10
    swimmer/hopper and the other tasks, 1 inverted_pendulum/mountain_car)."""
    batch_size: int = 768
    """Transitions per gradient update."""
    updates_per_iteration: int = 100
    """Gradient updates per iteration."""
    episodes_per_iteration: int | None = None
    """Exploration episodes per iteration, simulated as one batch (this is P; default: --num-envs if
    given, else 20)."""
    warm_up_episodes: int = 10
    """Episodes of uniformly random actions that fill the buffer first."""
    replay_size: int = 500
    """Episodes kept in the buffer: the best this-many by return."""
    return_scale: float = 0.02
    """Desired return is multiplied by this at the network's input."""
    horizon_scale: float = 0.01
    """Desired horizon is multiplied by this at the network's input."""


SECTIONS, OPTIONS = {"udrl": UdrlConfig}, None
FILLED = ("activation", "lr", "last_few")
RESOLVED_FROM = {"population": ("num_envs", "udrl.episodes_per_iteration"),
                 **{f"udrl.{name}": (f"udrl.{name}",) for name in FILLED}}


def settings(cfg) -> UdrlConfig:
    """--udrl.* with the task's presets filled in; under --algo udrl, --num-envs is the episodes per iteration."""
    episodes = cfg.num_envs if cfg.algo == "udrl" and cfg.num_envs is not None else 20
    preset = {**UDRL_PRESETS[cfg.env], "episodes_per_iteration": episodes}
    return dataclasses.replace(cfg.udrl, **{k: v for k, v in preset.items() if getattr(cfg.udrl, k) is None})


def population(cfg) -> int:
    return settings(cfg).episodes_per_iteration


def resolved(cfg) -> dict:
    udrl = settings(cfg)
    return {"population": population(cfg), **{f"udrl.{name}": getattr(udrl, name) for name in FILLED}}


def validate(cfg) -> None:
    udrl = settings(cfg)
    require_at_least([("--udrl.last-few", udrl.last_few, 1), ("--udrl.batch-size", udrl.batch_size, 1),
                               ("--udrl.episodes-per-iteration", udrl.episodes_per_iteration, 1),
                               ("--udrl.replay-size", udrl.replay_size, 1),
                               ("--udrl.warm-up-episodes", udrl.warm_up_episodes, 0),
                               ("--udrl.updates-per-iteration", udrl.updates_per_iteration, 0)])
    require_positive([("--udrl.lr", udrl.lr), ("--udrl.return-scale", udrl.return_scale),
                        ("--udrl.horizon-scale", udrl.horizon_scale)])
    if udrl.activation not in ("relu", "tanh"):
        raise ValueError(f"unknown --udrl.activation {udrl.activation!r}; choose relu or tanh")
    if cfg.algo == "udrl" and cfg.num_envs is not None and cfg.num_envs != population(cfg):
        raise ValueError(f"--num-envs {cfg.num_envs} does not fit --algo udrl: it simulates "
                         f"--udrl.episodes-per-iteration = {population(cfg)} episodes per iteration; leave --num-envs "
                         "out or change that setting")
