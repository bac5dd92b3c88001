"""Every torch <-> JAX/numpy hand-off, zero-copy where the data already lives on the right device.

DLPack on a shared device (CUDA with ``mjx`` on a GPU, or CPU with ``mjx`` on XLA:CPU); for the
``cpu`` engine the host tensor's own memory as a numpy array.
"""

import jax
import numpy as np
import torch


def torch_to_jax(tensor: torch.Tensor) -> jax.Array:
    """``tensor`` as a JAX array on the same device (zero-copy; the tensor must be contiguous)."""
    return jax.dlpack.from_dlpack(tensor.detach().contiguous())


def jax_to_torch(array: jax.Array) -> torch.Tensor:
    """``array`` as a torch tensor on the same device (zero-copy)."""
    return torch.from_dlpack(array)


def torch_to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU tensor's memory as a numpy array (zero-copy); the ``cpu`` engine reads weights this way."""
    if tensor.device.type != "cpu":
        raise ValueError(f"the cpu engine needs host tensors, got one on {tensor.device}")
    return tensor.detach().contiguous().numpy()


def to_engine(tensor: torch.Tensor, engine: str):
    """Policy weights ``[P, D]`` in the form the engine's rollout reads: zero-copy, except that the ``cpu``
    engine, which simulates on the host, gets a host copy of weights generated on a GPU."""
    return torch_to_numpy(tensor.detach().cpu()) if engine == "cpu" else torch_to_jax(tensor)
