"""What ``step`` and ``reset_to`` accept, the same on both engines: a batch ``[B, ...]``, or one environment's
values without the batch axis when B is 1; anything else (a wrong B or width, a non-finite entry) is a one-line
ValueError naming the shape or value and what is allowed, raised before any simulation."""

import numpy as np


def batch_action(action, batch: int, act_dim: int) -> np.ndarray:
    """``action`` as ``[B, act_dim]``; ``[act_dim]`` is taken for a batch of one."""
    values = np.asarray(action)
    if values.ndim == 1 and batch == 1 and values.shape[0] == act_dim:
        values = values[None]
    if values.shape != (batch, act_dim):
        one = f" (or [{act_dim}] for one env)" if batch == 1 else ""
        raise ValueError(f"action must be [B, act_dim] = [{batch}, {act_dim}]{one}, got shape {values.shape}")
    return _finite("action", values)


def batch_state(qpos, qvel, widths: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(qpos [B, nq], qvel [B, nv])`` for a MuJoCo task (``widths`` = (nq, nv); ``[nq]``, ``[nv]`` for one
    env), or ``(position [B], velocity [B])`` for an array task (``widths`` None; scalars for one env)."""
    qpos, qvel = np.asarray(qpos, np.float64), np.asarray(qvel, np.float64)
    if widths is None:
        qpos, qvel = np.atleast_1d(qpos), np.atleast_1d(qvel)
        if qpos.ndim != 1 or qpos.shape != qvel.shape:
            raise ValueError(f"position and velocity must both be [B], got shapes {qpos.shape} and {qvel.shape}")
    else:
        nq, nv = widths
        qpos, qvel = np.atleast_2d(qpos), np.atleast_2d(qvel)
        if qpos.ndim != 2 or qvel.ndim != 2 or qpos.shape[1] != nq or qvel.shape[1] != nv \
                or qpos.shape[0] != qvel.shape[0]:
            raise ValueError(f"qpos and qvel must be [B, {nq}] and [B, {nv}] ([{nq}] and [{nv}] for one env), "
                             f"got shapes {qpos.shape} and {qvel.shape}")
    return _finite("qpos", qpos), _finite("qvel", qvel)


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be numbers, got dtype {values.dtype}")
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.unravel_index(np.argmax(bad), bad.shape)
        raise ValueError(f"{name} must be finite, got {values[first]} (env {first[0]})")
    return values
