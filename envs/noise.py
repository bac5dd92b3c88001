"""Reset noise drawn from a JAX key, identical on both engines.

Both engines draw the same raw bits from ``jax.random.bits`` and turn them into uniforms with the
same arithmetic, so a key gives the same initial states on ``cpu`` (float64) and ``mjx`` (float64);
``mjx`` in float32 rounds those same draws to 24 bits.
"""

import jax
import numpy as np


def uniform_from_bits(bits_hi, bits_lo, low: float, high: float, xp, dtype):
    """Uniform numbers in ``[low, high)`` from two uint32 arrays of random bits.

    float64 uses 53 random bits (``hi >> 5``, ``lo >> 6``, as numpy's ``random()``); float32 uses
    the top 24 bits of ``hi``.
    """
    if np.dtype(dtype) == np.float64:
        hi = (bits_hi >> 5).astype(xp.float64)
        lo = (bits_lo >> 6).astype(xp.float64)
        unit = (hi * 67108864.0 + lo) / 9007199254740992.0
    else:
        unit = (bits_hi >> 8).astype(xp.float32) / xp.float32(16777216.0)
    return (low + (high - low) * unit).astype(dtype)


def random_bits(key, shape):
    """Two uint32 arrays of ``shape`` drawn from ``key`` (a JAX key); works under ``jit``."""
    bits = jax.random.bits(key, (2, *shape), dtype=np.uint32)
    return bits[0], bits[1]


def uniform_numpy(key, shape, low: float, high: float) -> np.ndarray:
    """float64 numpy uniforms in ``[low, high)``, the host-side twin of the ``mjx`` draw."""
    hi, lo = random_bits(key, shape)
    return uniform_from_bits(np.asarray(hi), np.asarray(lo), low, high, np, np.float64)
