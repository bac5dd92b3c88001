"""The algorithms behind ``--algo``: one module each, all with the same five functions.

    init(cfg) -> state                      a fresh run
    iteration(state, progress=None)         collect episodes and learn; -> (state, metrics), metrics
                                            include ``train/best_return`` and ``perf/sps``;
                                            ``progress(done, due)`` is told of updates as they run
    evaluate(state) -> metrics              ``cfg.eval.episodes`` noise-free episodes, not counted
    save(state, run_dir)                    ``checkpoint.pt``, written atomically
    load(state, run_dir) -> state           continue from it (state from ``init`` with the same config)

and optionally ``snapshot(state, run_dir)``, called before training and after every iteration
(PoliGen keeps generator snapshots with it).

Every state carries ``cfg``, ``env``, ``device`` and the counters ``env_steps``, ``episodes``,
``iterations``, ``evaluations``, ``best_return`` (best training return so far) and ``wall_s``.
Env steps count the transitions of training episodes, the same way for all algorithms.
"""

import importlib
from dataclasses import dataclass

from fastgen import extras

MODULES = {"poligen": "fastgen.poligen", "ars": "fastgen.baselines.ars", "ddpg": "fastgen.baselines.ddpg",
           "udrl": "fastgen.baselines.udrl"}
REQUIRES = {"ddpg": "stable_baselines3"}  # an optional dependency an algorithm needs (fastgen.extras)


def get(name: str):
    """The module implementing algorithm ``name`` (imported on first use: ddpg pulls in Stable-Baselines3)."""
    if name not in MODULES:
        raise ValueError(f"unknown algo {name!r}; choose one of {', '.join(MODULES)}")
    if name in REQUIRES:
        extras.require(REQUIRES[name], f"--algo {name}")
    return importlib.import_module(MODULES[name])


@dataclass(kw_only=True)
class Counters:
    """The counters every algorithm's state carries (keyword-only, so states list their own fields first)."""

    env_steps: int = 0
    episodes: int = 0
    iterations: int = 0
    evaluations: int = 0
    best_return: float | None = None
    wall_s: float = 0.0  # training wall time, summed over resumptions
