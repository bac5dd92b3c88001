"""What a population rollout returns."""

from dataclasses import dataclass

import numpy as np


@dataclass
class RolloutResult:
    """Outcome of E episodes of each of P policies (host numpy arrays).

    Attributes:
        returns: ``[P]`` the env's own return, mean over episodes.
        returns_no_bonus: ``[P]`` the return without the survival bonus (= returns where none).
        lengths: ``[P]`` episode length in env steps, mean over episodes.
        episode_returns: ``[P, E]`` per-episode returns.
        episode_returns_no_bonus: ``[P, E]``.
        episode_lengths: ``[P, E]`` int.
        obs_count: number of observations the policies acted on (= total env steps).
        obs_sum: ``[obs_dim]`` sum of those observations (float64).
        obs_sumsq: ``[obs_dim]`` sum of their squares (float64), for running mean/std updates.
    """

    returns: np.ndarray
    returns_no_bonus: np.ndarray
    lengths: np.ndarray
    episode_returns: np.ndarray
    episode_returns_no_bonus: np.ndarray
    episode_lengths: np.ndarray
    obs_count: int
    obs_sum: np.ndarray
    obs_sumsq: np.ndarray

    @classmethod
    def from_episodes(cls, returns, returns_no_bonus, lengths, count, obs_sum, obs_sumsq) -> "RolloutResult":
        """Build from per-episode ``[P, E]`` arrays."""
        returns, returns_no_bonus = np.asarray(returns, np.float64), np.asarray(returns_no_bonus, np.float64)
        lengths = np.asarray(lengths, np.int64)
        return cls(returns.mean(axis=1), returns_no_bonus.mean(axis=1), lengths.mean(axis=1), returns,
                   returns_no_bonus, lengths, int(count), np.asarray(obs_sum, np.float64),
                   np.asarray(obs_sumsq, np.float64))

    @property
    def env_steps(self) -> int:
        return self.obs_count
