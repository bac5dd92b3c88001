"""``envs.play``: B episodes of any controller, stepped as one batch (for policies that are not flat MLPs)."""

import numpy as np

from envs.result import RolloutResult
from envs.state import State


def play(env, act, key, num_envs: int, on_step=None) -> RolloutResult:
    """Run ``num_envs`` episodes side by side until all are done; each stops counting when it ends.

    Args:
        env: from ``envs.make`` (``cpu`` engine, or ``mjx`` stepped one jitted step at a time).
        act: ``act(state: State) -> actions [B, act_dim]``, called before every step with the
            current batch (``state.reward`` is the reward of the previous step, 0 after reset).
        key: JAX PRNG key for the reset noise.
        num_envs: B >= 1.
        on_step: optional ``on_step(before: State, actions, after: State, alive [B] bool)``
            after every step, for collecting transitions.

    Returns:
        ``RolloutResult`` with P = B policies of one episode each (obs statistics of the observations
        acted on, as ``envs.rollout``).
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    state = env.reset(key, num_envs)
    spec = env.spec
    alive = np.ones(num_envs, dtype=bool)
    totals = np.zeros((2, num_envs))
    lengths = np.zeros(num_envs, dtype=np.int64)
    obs_sum, obs_sumsq, count = np.zeros(spec.obs_dim), np.zeros(spec.obs_dim), 0
    while alive.any():
        obs = np.asarray(state.obs, np.float64)
        obs_sum += obs[alive].sum(axis=0)
        obs_sumsq += (obs[alive] ** 2).sum(axis=0)
        count += int(alive.sum())
        actions = np.asarray(act(state))
        after: State = env.step(state, actions)
        totals += np.where(alive, np.stack([np.asarray(after.reward), np.asarray(after.reward_no_bonus)]), 0.0)
        lengths += alive
        if on_step is not None:
            on_step(state, actions, after, alive.copy())
        alive &= ~np.asarray(after.done)
        state = after
    return RolloutResult.from_episodes(totals[0][:, None], totals[1][:, None], lengths[:, None], count, obs_sum,
                                       obs_sumsq)
