"""The algorithms behind ``--algo``: the contract the training loop (``fastgen.loop``) relies on, and the
registry that maps each name to the module implementing it.

An algorithm is a module with the functions of ``Algorithm``. Its functions take K >= 1 runs (seeds) at
once: PoliGen shares one learner among them, the baselines run them one after another
(``one_at_a_time``). A single run is a batch of one.

Every run's state carries ``cfg``, ``env`` and the counters of ``Counters``: ``env_steps`` (transitions of
training episodes, counted the same way for all algorithms), ``episodes``, ``iterations``,
``evaluations``, ``best_return`` (best training return so far) and ``wall_s``.

Adding an algorithm: one module with these functions, plus one line in ``MODULES`` (and in ``REQUIRES`` if it
needs an optional dependency); docs/architecture.md shows a toy.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastgen import extras

MODULES = {"poligen": "fastgen.poligen.algorithm", "ars": "fastgen.baselines.ars", "ddpg": "fastgen.baselines.ddpg",
           "udrl": "fastgen.baselines.udrl"}
NAMES = tuple(MODULES)
REQUIRES = {"ddpg": "stable_baselines3"}  # an optional dependency an algorithm needs (fastgen.extras)

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


def get(name: str) -> Algorithm:
    """The module implementing algorithm ``name`` (imported on first use: ddpg pulls in Stable-Baselines3)."""
    if name not in MODULES:
        raise ValueError(f"unknown algo {name!r}; choose one of {', '.join(NAMES)}")
    if name in REQUIRES:
        extras.require(REQUIRES[name], f"--algo {name}")
    module = importlib.import_module(MODULES[name])
    if not isinstance(module, Algorithm):
        missing = [f for f in ("init_batch", "iteration_batch", "evaluate_batch", "save", "load", "snapshot")
                   if not hasattr(module, f)]
        raise TypeError(f"{MODULES[name]} does not implement fastgen.algorithms.Algorithm: no {', '.join(missing)}")
    return module


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
