"""``envs.rollout``: validate a population of policies, then run it on the env's engine.

``envs.rollout_groups`` runs G independent populations (e.g. the runs of G seeds) as one rollout,
each with its own normalisation, reset key and observation statistics.
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs.policy import num_params
from envs.result import RolloutResult


def rollout(env, params, obs_mean, obs_std, key, episodes: int = 1, slots: int | None = None) -> RolloutResult:
    """Run ``episodes`` episodes of each of P policies; dead policies stop counting at termination.

    Args:
        env: from ``envs.make``.
        params: ``[P, D]`` flat policy weights (numpy, JAX, or a CPU torch tensor), float32 or
            float64; layout in ``envs.policy``. Non-finite weights are refused (ValueError naming
            the first bad policy) rather than simulated: a NaN policy is a bug upstream.
        obs_mean: ``[obs_dim]`` observation mean for normalisation.
        obs_std: ``[obs_dim]`` observation std, > 0.
        key: JAX PRNG key for the reset noise.
        episodes: E >= 1 episodes per policy (evaluation); the result averages over them.
        slots: at most this many environments are stepped at once (default: one per (policy, episode) job);
            a slot whose episode ends starts the next queued job. A job's reset state and result depend only
            on (key, policy, episode), never on its slot: results are the same for any ``slots`` (bit for bit
            on the cpu engine, float32-close on mjx).

    Returns:
        ``RolloutResult`` with ``returns [P]``, ``returns_no_bonus [P]``, ``lengths [P]`` and the
        count, sum and sum of squares of the observations the policies acted on.
    """
    spec = env.spec
    params = _check_params(params, spec.obs_dim, spec.act_dim)
    obs_mean = _check_vector("obs_mean", obs_mean, spec.obs_dim)
    obs_std = _check_vector("obs_std", obs_std, spec.obs_dim)
    if np.any(obs_std <= 0):
        raise ValueError(f"obs_std must be > 0 everywhere, got min {obs_std.min()}")
    _check_episodes(episodes)
    _check_slots(slots)
    if env.engine == "cpu":
        params = np.asarray(params)
    return env.rollout(params, obs_mean, obs_std, key, int(episodes), None if slots is None else int(slots))


def rollout_groups(env, params, obs_mean, obs_std, keys, episodes: int = 1,
                   slots: int | None = None) -> list[RolloutResult]:
    """G populations of P policies simulated together; -> G results, group g's equal to
    ``rollout(env, params[g], obs_mean[g], obs_std[g], keys[g], episodes)``.

    Args:
        params: ``[G, P, D]`` flat policy weights (numpy, JAX, or a CPU torch tensor).
        obs_mean: ``[G, obs_dim]`` each group's observation mean.
        obs_std: ``[G, obs_dim]``, > 0.
        keys: G JAX PRNG keys (a sequence, or a JAX key array of shape ``[G]``).
        episodes: E >= 1 episodes per policy.
        slots: environments stepped at once, shared by all G groups' jobs (as ``rollout``'s).
    """
    spec = env.spec
    if getattr(params, "ndim", None) != 3:
        raise ValueError(f"params must be [G, P, D] for grouped rollouts, got shape {getattr(params, 'shape', None)}")
    G, P = params.shape[:2]
    if G <= 0:
        raise ValueError(f"need at least one group (G >= 1), got G = {G}")
    flat = _check_params(params.reshape(G * P, params.shape[2]), spec.obs_dim, spec.act_dim)
    obs_mean = _check_matrix("obs_mean", obs_mean, (G, spec.obs_dim))
    obs_std = _check_matrix("obs_std", obs_std, (G, spec.obs_dim))
    if np.any(obs_std <= 0):
        raise ValueError(f"obs_std must be > 0 everywhere, got min {obs_std.min()}")
    if len(keys) != G:
        raise ValueError(f"need one key per group: {G} groups, got {len(keys)} keys")
    _check_episodes(episodes)
    _check_slots(slots)
    flat = np.asarray(flat) if env.engine == "cpu" else flat
    return env.rollout_groups(flat.reshape(G, P, -1), obs_mean, obs_std, keys, int(episodes),
                              None if slots is None else int(slots))


def _check_episodes(episodes) -> None:
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")


def _check_slots(slots) -> None:
    if slots is not None and (isinstance(slots, bool) or not isinstance(slots, (int, np.integer)) or slots < 1):
        raise ValueError(f"slots must be an integer >= 1 or None (one per job), got {slots!r}")


def _check_matrix(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (one row per group), got {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf; it must be finite")
    return value


def _check_params(params, obs_dim: int, act_dim: int):
    """-> ``params`` validated; a JAX array stays where it is (only P flags come to the host)."""
    if hasattr(params, "detach"):  # torch tensor on the CPU
        params = params.detach()
    xp = jnp if isinstance(params, jax.Array) else np
    if xp is np:
        params = np.asarray(params)
    expected = num_params(obs_dim, act_dim)
    if params.ndim != 2:
        raise ValueError(f"params must be [P, D] with D = {expected}, got shape {params.shape}")
    if params.shape[0] <= 0:
        raise ValueError(f"need at least one policy (P >= 1), got P = {params.shape[0]}")
    if params.shape[1] != expected:
        raise ValueError(f"params have D = {params.shape[1]} weights per policy; this task needs D = {expected}")
    if params.dtype not in (np.float32, np.float64):
        raise ValueError(f"params must be float32 or float64, got {params.dtype}")
    finite = np.asarray(xp.isfinite(params).all(axis=1))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"params of policy {bad[0]} (and {bad.size - 1} more) contain NaN or inf; weights must be finite")
    return params


def _check_vector(name: str, value, size: int) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf; it must be finite")
    return value
