"""Generator snapshots over training, for ``fastgen.atlas`` (paper Fig. 5): ``snapshots/<k>.pt``.

With ``--generator.snapshots n``, snapshot k (0..n) is taken after the first iteration that reaches
k/n of the budget; snapshot 0 is the untrained generator. Each holds the generator's weights and
the observation statistics its policies were trained with (~2 MB on hopper), written atomically.
A resumed run keeps the snapshots already on disk.
"""

from pathlib import Path

import torch

from fastgen.runs.checkpoint import atomic_save

DIR = "snapshots"


def due(state, run_dir: Path) -> Path | None:
    """Where the snapshot for the budget fraction ``state`` has reached goes, if it is not taken yet (or n = 0)."""
    n = state.cfg.generator.snapshots
    if n == 0:
        return None
    k = min(state.env_steps * n // state.cfg.budget, n)
    path = Path(run_dir) / DIR / f"{k:03d}.pt"
    return None if path.exists() else path


def take_due(state, run_dir: Path) -> None:
    """Write the snapshot for the budget fraction ``state`` has reached, unless it exists (or n = 0)."""
    path = due(state, run_dir)
    if path is None:
        return
    n, k = state.cfg.generator.snapshots, int(path.stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({"k": k, "of": n, "env_steps": state.env_steps, "best_return": state.best_return,
                 "generator": {name: t.cpu() for name, t in evaluated_generator(state).items()},
                 "obs_stats": state.obs_stats.state_dict()}, path)


def evaluated_generator(state) -> dict:
    """The generator evaluations use (the moving average under --generator.average-decay) as a ``state_dict``."""
    shared = state.learner
    if shared.generator_average is not None:
        return shared.average_state_dict(state.slot)
    return shared.generator_weights.state_dict(state.slot)


def load_all(run_dir: Path) -> list[dict]:
    """Every snapshot of ``run_dir``, oldest first (empty if the run kept none)."""
    paths = sorted((Path(run_dir) / DIR).glob("*.pt"))
    return [torch.load(p, weights_only=False, map_location="cpu") for p in paths]
