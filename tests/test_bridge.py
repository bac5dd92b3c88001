"""The DLPack bridge is zero-copy and exact."""

import numpy as np
import torch

from fastgen import bridge


def test_torch_to_jax_shares_memory_and_round_trips():
    tensor = torch.randn(64, 1000)
    array = bridge.torch_to_jax(tensor)
    assert array.unsafe_buffer_pointer() == tensor.data_ptr()
    back = bridge.jax_to_torch(array)
    assert back.data_ptr() == tensor.data_ptr()
    assert torch.equal(back, tensor)


def test_cpu_engine_reads_the_tensor_memory():
    tensor = torch.randn(8, 16)
    view = bridge.to_engine(tensor, "cpu")
    assert view.ctypes.data == tensor.data_ptr()
    np.testing.assert_array_equal(view, tensor.numpy())
