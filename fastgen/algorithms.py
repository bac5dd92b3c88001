"""The algorithms behind ``--algo``: the contract the training loop (``fastgen.loop``) relies on, and the
registry that maps each name to the module implementing it.

An algorithm is a module with the functions of ``Algorithm``. Its functions take K >= 1 runs (seeds) at
once: PoliGen shares one learner among them, the baselines run them one after another
(``one_at_a_time``). A single run is a batch of one.

Every run's state carries ``cfg``, ``env`` and the counters of ``Counters``: ``env_steps`` (transitions of
training episodes, counted the same way for all algorithms), ``episodes``, ``iterations``,
``evaluations``, ``best_return`` (best training return so far) and ``wall_s``.

An algorithm's settings (``Settings``) live in a module of their own, light enough for ``fastgen.config`` to
import: the config sections it adds (``--ars.*``), its per-task defaults, what they resolve to and their
validation. ``fastgen.config.Config`` is composed from the shared options and every registered algorithm's.

Adding an algorithm: one module with the functions of ``Algorithm``, plus one line in ``REGISTRY`` (with a
settings module if it has options of its own, and ``requires`` if it needs an optional dependency);
docs/architecture.md shows a toy.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastgen import extras


@dataclass(frozen=True)
class Registered:
    """Where an algorithm lives: ``module`` implements ``Algorithm``; ``settings`` implements ``Settings`` (None: it
    has no options of its own and simulates --num-envs episodes per iteration, default 1); ``requires`` names an
    optional dependency it needs (``fastgen.extras``)."""

    module: str
    settings: str | None = None
    requires: str | None = None


REGISTRY = {"poligen": Registered("fastgen.poligen.algorithm", "fastgen.poligen.settings"),
            "ars": Registered("fastgen.baselines.ars", "fastgen.baselines.ars_settings"),
            "ddpg": Registered("fastgen.baselines.ddpg", "fastgen.baselines.ddpg_settings", "stable_baselines3"),
            "udrl": Registered("fastgen.baselines.udrl", "fastgen.baselines.udrl_settings")}
NAMES = tuple(REGISTRY)

# progress(done, due): told during an iteration's update phase how many of its updates are done
Progress = Callable[[int, int], None]
RunState = Any  # an algorithm's own state dataclass, with ``cfg``, ``env`` and the ``Counters``


@runtime_checkable
class Algorithm(Protocol):
    """What ``fastgen.loop`` calls. ``states`` are runs made by ``init_batch`` (configs equal but for seed, out
    and resume), in the same order every call; each call may be given a subset of them (those still training)."""

    def init_batch(self, cfgs: list) -> list[RunState]:
        """Fresh runs, one per (validated) config."""

    def iteration_batch(self, states: list[RunState], progress: Progress | None = None) -> list[dict[str, float]]:
        """Collect episodes and learn, once per run; -> each run's metrics, with ``train/best_return`` and
        ``perf/sps``."""

    def evaluate_batch(self, states: list[RunState]) -> list[dict[str, float]]:
        """``cfg.eval.episodes`` noise-free episodes of each run's current policy (env steps not counted);
        -> each run's ``eval/*`` metrics."""

    def save(self, state: RunState, run_dir: Path) -> None:
        """``checkpoint.pt`` (and what it needs), written atomically."""

    def load(self, state: RunState, run_dir: Path) -> RunState:
        """Continue from ``run_dir``'s checkpoint (``state`` from ``init_batch`` with the same config)."""

    def snapshot(self, state: RunState, run_dir: Path) -> None:
        """Called before training and after every iteration (PoliGen keeps generator snapshots)."""

    def evaluated_policy(self, state: RunState) -> tuple[Callable, str]:
        """The policy an evaluation runs now, for one episode: (``envs.play`` controller, a short label), what
        ``--eval.video`` and ``fastgen.render`` draw."""


@runtime_checkable
class Settings(Protocol):
    """An algorithm's options, as ``fastgen.config`` composes them into ``Config`` (``cfg`` below is a whole
    ``Config``)."""

    SECTIONS: dict[str, type]
    """Config sections (dataclasses) it adds: ``{"ars": ArsConfig}`` gives ``--ars.<field>``."""
    OPTIONS: type | None
    """A dataclass of top-level options only it reads (PoliGen: ``--schedule``, ``--precision``), or None."""
    RESOLVED_FROM: dict[str, tuple[str, ...]]
    """Each key of ``resolved``: the config fields it stands for (a resume compares those by what they resolved to)."""

    def population(self, cfg) -> int:
        """Episodes simulated per iteration."""

    def resolved(self, cfg) -> dict:
        """What its per-task defaults came to in ``cfg`` (with ``population``): written in config.json and every
        checkpoint; a resume is refused if they differ."""

    def validate(self, cfg) -> None:
        """A one-line ValueError naming the first bad value of its options and what is allowed (called for every
        registered algorithm, whichever ``cfg.algo`` is)."""


class _NoSettings:
    """The settings of an algorithm registered without any: P = --num-envs (default 1)."""

    SECTIONS, OPTIONS, RESOLVED_FROM = {}, None, {"population": ("num_envs",)}

    @staticmethod
    def population(cfg) -> int:
        return 1 if cfg.num_envs is None else cfg.num_envs

    @classmethod
    def resolved(cls, cfg) -> dict:
        return {"population": cls.population(cfg)}

    @staticmethod
    def validate(cfg) -> None:
        pass


def settings(name: str) -> Settings:
    """The settings of algorithm ``name`` (its module is light: no optional dependency, no algorithm code)."""
    entry = _entry(name)
    if entry.settings is None:
        return _NoSettings
    module = importlib.import_module(entry.settings)
    _check(module, Settings, entry.settings, ("SECTIONS", "OPTIONS", "RESOLVED_FROM", "population", "resolved",
                                              "validate"))
    return module


def get(name: str) -> Algorithm:
    """The module implementing algorithm ``name`` (imported on first use: ddpg pulls in Stable-Baselines3)."""
    entry = _entry(name)
    if entry.requires is not None:
        extras.require(entry.requires, f"--algo {name}")
    module = importlib.import_module(entry.module)
    _check(module, Algorithm, entry.module, ("init_batch", "iteration_batch", "evaluate_batch", "save", "load",
                                             "snapshot", "evaluated_policy"))
    return module


def _entry(name: str) -> Registered:
    if name not in REGISTRY:
        raise ValueError(f"unknown algo {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _check(module, protocol: type, where: str, members: tuple[str, ...]) -> None:
    if not isinstance(module, protocol):
        missing = [m for m in members if not hasattr(module, m)]
        raise TypeError(f"{where} does not implement fastgen.algorithms.{protocol.__name__}: no {', '.join(missing)}")


def one_at_a_time(init, iteration, evaluate):
    """``(init_batch, iteration_batch, evaluate_batch)`` of an algorithm whose runs share nothing, from its
    single-run ``init(cfg)``, ``iteration(state, progress) -> (state, metrics)`` and ``evaluate(state)``:
    each run in turn."""

    def init_batch(cfgs: list) -> list[RunState]:
        return [init(cfg) for cfg in cfgs]

    def iteration_batch(states: list[RunState], progress: Progress | None = None) -> list[dict[str, float]]:
        return [iteration(state, progress)[1] for state in states]

    def evaluate_batch(states: list[RunState]) -> list[dict[str, float]]:
        return [evaluate(state) for state in states]

    return init_batch, iteration_batch, evaluate_batch


def no_snapshot(state: RunState, run_dir: Path) -> None:
    """``snapshot`` of an algorithm that keeps none."""


@dataclass(kw_only=True)
class Counters:
    """The counters every algorithm's state carries (keyword-only, so states list their own fields first)."""

    env_steps: int = 0
    episodes: int = 0
    iterations: int = 0
    evaluations: int = 0
    best_return: float | None = None
    wall_s: float = 0.0  # training wall time, summed over resumptions
