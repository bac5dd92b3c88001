"""Running observation statistics (mean, std) merged from rollouts' count, sum and sum of squares.

Updated from training episodes only (docs/paper.md). Merging uses Chan et al.'s parallel formula in
float64, so a batch's variance is centred on its own mean before being combined (no aliasing of
the old and new means, the reference code's bug). Before any data: mean 0, std 1.
"""

from dataclasses import dataclass, field

import numpy as np

MIN_VARIANCE = 1e-8  # below this a dimension is constant: its std is taken as 1


@dataclass
class ObsStats:
    dim: int
    count: float = 0.0
    mean: np.ndarray = field(default=None)
    m2: np.ndarray = field(default=None)  # sum of squared deviations from the mean

    def __post_init__(self):
        self.mean = np.zeros(self.dim) if self.mean is None else np.asarray(self.mean, np.float64)
        self.m2 = np.zeros(self.dim) if self.m2 is None else np.asarray(self.m2, np.float64)

    def update(self, count: float, total: np.ndarray, total_sq: np.ndarray) -> None:
        """Merge a batch given its count, sum ``[dim]`` and sum of squares ``[dim]``."""
        if count <= 0:
            return
        batch_mean = np.asarray(total, np.float64) / count
        batch_m2 = np.maximum(np.asarray(total_sq, np.float64) - count * batch_mean**2, 0.0)
        merged = self.count + count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (count / merged)
        self.m2 = self.m2 + batch_m2 + delta**2 * (self.count * count / merged)
        self.count = merged

    @property
    def std(self) -> np.ndarray:
        if self.count < 2:
            return np.ones(self.dim)
        variance = self.m2 / self.count
        return np.where(variance > MIN_VARIANCE, np.sqrt(np.maximum(variance, MIN_VARIANCE)), 1.0)

    def state_dict(self) -> dict:
        return {"dim": self.dim, "count": self.count, "mean": self.mean.copy(), "m2": self.m2.copy()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "ObsStats":
        return cls(state["dim"], state["count"], state["mean"], state["m2"])
