"""PoliGen behind the common algorithm interface (``fastgen.algorithms``): trainer, checkpoints and
generator snapshots (the optional ``snapshot(state, run_dir)``, called before training and after every iteration)."""

from fastgen.checkpoint import load, save
from fastgen.snapshots import take_due as snapshot
from fastgen.trainer import TrainState, evaluate, init, iteration

__all__ = ["TrainState", "evaluate", "init", "iteration", "load", "save", "snapshot"]
