"""DDPG's settings (``fastgen.algorithms.Settings``): the --ddpg section (spinning-up's, as the paper) and its
validation. Stable-Baselines3 is not imported here: the settings work without the [ddpg] extra."""

from dataclasses import dataclass

from fastgen.errors import require_at_least, require_positive


@dataclass
class DdpgConfig:
    """DDPG (--algo ddpg), spinning-up defaults as in the paper."""

    start_steps: int = 10_000
    """Env steps of uniformly random actions at the start (spinning-up, paper A.1)."""
    update_after: int = 1_000
    """Env steps before the first update."""
    update_every: int = 50
    """Env steps between update rounds; each round makes this many gradient updates."""
    batch_size: int = 128
    """Minibatch size (paper A.1)."""
    lr: float = 1e-3
    """Adam learning rate of actor and critic."""
    polyak: float = 0.995
    """Target networks: target <- polyak * target + (1 - polyak) * online."""
    gamma: float = 0.99
    """Discount of the critic's TD target."""
    action_noise: float = 0.1
    """Std of the Gaussian noise added to actions, in the env's action units."""
    buffer_size: int = 100_000
    """Replay capacity in transitions: the paper's 100k (A.1; spinning-up's own default is 1M), capped at
    the run's budget, which it can never exceed."""


SECTIONS, OPTIONS = {"ddpg": DdpgConfig}, None
RESOLVED_FROM = {"population": ("num_envs",)}


def population(cfg) -> int:
    """One env, one transition per env step (spinning-up)."""
    return 1


def resolved(cfg) -> dict:
    return {"population": 1}


def validate(cfg) -> None:
    if cfg.algo == "ddpg" and cfg.num_envs not in (None, 1):
        raise ValueError(f"--num-envs {cfg.num_envs} is not supported by --algo ddpg: it trains on one env, one "
                         "transition per env step (spinning-up); leave --num-envs out or use 1")
    d = cfg.ddpg
    require_at_least([("--ddpg.batch-size", d.batch_size, 1), ("--ddpg.update-every", d.update_every, 1),
                               ("--ddpg.buffer-size", d.buffer_size, 1), ("--ddpg.start-steps", d.start_steps, 0),
                               ("--ddpg.update-after", d.update_after, 0)])
    require_positive([("--ddpg.lr", d.lr), ("--ddpg.action-noise", d.action_noise)])
    for flag, value in [("--ddpg.polyak", d.polyak), ("--ddpg.gamma", d.gamma)]:
        if not 0 <= value <= 1:
            raise ValueError(f"{flag} must be in [0, 1], got {value}")
