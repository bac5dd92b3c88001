"""ARS's settings (``fastgen.algorithms.Settings``): the --ars section, its per-task presets and their validation."""

import dataclasses
from dataclasses import dataclass

from fastgen.errors import require_at_least, require_positive

# Step size, (directions, elite directions), noise. The paper's four: appendix A.1, tuned per task.
# walker2d, half_cheetah, ant: the V2-t settings Mania et al. (2018) report for Walker2d-v1,
# HalfCheetah-v1 and Ant-v1 (linear policies there); reacher: untuned, the paper's hopper/swimmer preset.
ARS_PRESETS = {task: dict(zip(("step_size", "directions", "elite", "noise"), values)) for task, values in {
    "swimmer": (0.01, 8, 4, 0.05), "hopper": (0.01, 8, 4, 0.05),
    "inverted_pendulum": (0.001, 1, 1, 0.025), "mountain_car": (0.01, 1, 1, 0.05),
    "walker2d": (0.03, 40, 30, 0.025), "half_cheetah": (0.02, 32, 4, 0.03), "ant": (0.015, 60, 20, 0.025),
    "reacher": (0.01, 8, 4, 0.05)}.items()}


@dataclass
class ArsConfig:
    """ARS V2-t (--algo ars)."""

    step_size: float | None = None
    """ARS step size alpha (default per task, ARS_PRESETS: 0.01; inverted_pendulum 0.001, walker2d 0.03,
    half_cheetah 0.02, ant 0.015)."""
    directions: int | None = None
    """Random directions per iteration; 2 x this many policies are simulated (default: --num-envs / 2
    if given, else per task: 8 hopper/swimmer/reacher, 1 inverted_pendulum/mountain_car, 40 walker2d,
    32 half_cheetah, 60 ant)."""
    elite: int | None = None
    """Top directions used in the update (default per task: 4 hopper/swimmer/reacher/half_cheetah, 30
    walker2d, 20 ant, 1 inverted_pendulum/mountain_car; never more
    than the directions, when --num-envs or --ars.directions makes them fewer)."""
    noise: float | None = None
    """Exploration noise nu on the weights (default per task: 0.05; 0.025 inverted_pendulum/walker2d/ant,
    0.03 half_cheetah)."""
    bonus_free: bool = True
    """Train on returns without the survival bonus of hopper, walker2d and ant (as Mania et al. and the
    paper do)."""


SECTIONS, OPTIONS = {"ars": ArsConfig}, None
FILLED = ("step_size", "directions", "elite", "noise")
RESOLVED_FROM = {"population": ("num_envs",), **{f"ars.{name}": (f"ars.{name}",) for name in FILLED}}


def settings(cfg) -> ArsConfig:
    """--ars.* with the task's presets filled in; under --algo ars, --num-envs P sets P // 2 directions."""
    ars = cfg.ars
    if cfg.algo == "ars" and cfg.num_envs is not None and ars.directions is None:
        ars = dataclasses.replace(ars, directions=cfg.num_envs // 2)
    preset = ARS_PRESETS[cfg.env]
    ars = dataclasses.replace(ars, **{k: v for k, v in preset.items() if getattr(ars, k) is None})
    if cfg.ars.elite is None:
        ars = dataclasses.replace(ars, elite=min(ars.elite, ars.directions))
    return ars


def population(cfg) -> int:
    return 2 * settings(cfg).directions


def resolved(cfg) -> dict:
    ars = settings(cfg)
    return {"population": population(cfg), **{f"ars.{name}": getattr(ars, name) for name in FILLED}}


def validate(cfg) -> None:
    if cfg.algo == "ars" and cfg.num_envs is not None and cfg.num_envs % 2:
        raise ValueError(f"--num-envs {cfg.num_envs} must be even for --algo ars: it simulates P / 2 directions, "
                         "each as +delta and -delta")
    ars = settings(cfg)
    require_at_least([("--ars.directions", ars.directions, 1), ("--ars.elite", ars.elite, 1)])
    require_positive([("--ars.step-size", ars.step_size), ("--ars.noise", ars.noise)])
    if ars.elite > ars.directions:
        raise ValueError(f"--ars.elite {ars.elite} must be <= --ars.directions {ars.directions}")
    if cfg.algo == "ars" and cfg.num_envs is not None and cfg.num_envs != population(cfg):
        raise ValueError(f"--num-envs {cfg.num_envs} does not fit --algo ars: it simulates 2 x --ars.directions = "
                         f"{population(cfg)} episodes per iteration; leave --num-envs out or change that setting")
