"""PoliGen behind the common algorithm interface (``fastgen.algorithms``): trainer plus checkpoints."""

from fastgen.checkpoint import load, save
from fastgen.trainer import TrainState, evaluate, init, iteration

__all__ = ["TrainState", "evaluate", "init", "iteration", "load", "save"]
