"""The toy algorithm's settings (``fastgen.algorithms.Settings``): its own section, ``--toy.noise``, with no edit to
``fastgen.config`` (docs/architecture.md, "Adding an algorithm")."""

from dataclasses import dataclass


@dataclass
class ToyConfig:
    """Toy random search (--algo toy)."""

    noise: float = 0.1
    """Std of the perturbations of the best policy."""


SECTIONS, OPTIONS = {"toy": ToyConfig}, None
RESOLVED_FROM = {"population": ("num_envs",)}


def population(cfg) -> int:
    return 1 if cfg.num_envs is None else cfg.num_envs


def resolved(cfg) -> dict:
    return {"population": population(cfg)}


def validate(cfg) -> None:
    if not cfg.toy.noise > 0:
        raise ValueError(f"--toy.noise must be > 0, got {cfg.toy.noise}")
