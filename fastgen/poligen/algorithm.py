"""PoliGen behind the algorithm contract (``fastgen.algorithms.Algorithm``): the trainer's batched functions,
checkpoints, and generator snapshots (``snapshot``, called before training and after every iteration)."""

from fastgen.poligen.checkpoint import load, save
from fastgen.poligen.snapshots import take_due as snapshot
from fastgen.poligen.trainer import (
                                     TrainState,
                                     evaluate,
                                     evaluate_batch,
                                     evaluated_policy,
                                     init,
                                     init_batch,
                                     iteration,
                                     iteration_batch,
)

__all__ = ["TrainState", "evaluate", "evaluate_batch", "evaluated_policy", "init", "init_batch", "iteration",
           "iteration_batch", "load", "save", "snapshot"]
