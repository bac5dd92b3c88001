"""Replay buffer: ring storage, recency-weighted sampling (1/x^1.1), restore."""

import torch

from fastgen.buffer import ReplayBuffer


def _filled(capacity=5, count=7, power=1.1):
    buffer = ReplayBuffer(capacity, 3, recency_power=power)
    for i in range(count):
        buffer.add(torch.full((1, 3), float(i)), torch.tensor([float(i)]))
    return buffer


def test_ring_keeps_the_newest_entries():
    buffer = _filled()
    assert len(buffer) == 5 and buffer.stored == 7
    assert sorted(buffer.returns.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    params, returns = buffer.entries(1)
    assert returns.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]  # stamp order, evicted ones skipped
    assert buffer.entries(6)[1].tolist() == [5.0, 6.0]


def test_recency_weights_follow_the_power_law():
    buffer = _filled(capacity=10, count=10)
    weights = buffer.weights()
    age = 10 - buffer.returns  # entry i was the (i+1)-th stored: the newest (9) has age 1
    torch.testing.assert_close(weights, (1.0 / age.double() ** 1.1))
    rng = torch.Generator().manual_seed(0)
    _, drawn = buffer.sample(rng, 200_000)
    freq = torch.bincount(drawn.long(), minlength=10).double() / drawn.numel()
    torch.testing.assert_close(freq, weights / weights.sum(), atol=4e-3, rtol=0)


def test_uniform_sampling_when_power_is_none():
    buffer = _filled(capacity=4, count=4, power=None)
    rng = torch.Generator().manual_seed(1)
    _, drawn = buffer.sample(rng, 40_000)
    freq = torch.bincount(drawn.long(), minlength=4).double() / drawn.numel()
    assert (freq - 0.25).abs().max() < 0.01


def test_restore_round_trip():
    buffer = _filled(capacity=5, count=7)
    params, returns = buffer.entries(1)
    copy = ReplayBuffer(5, 3)
    copy.restore(params, returns, buffer.stored)
    assert copy.stored == 7 and torch.equal(copy.weights(), buffer.weights())
    assert torch.equal(copy.entries(1)[1], returns)
    rng_a, rng_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(buffer.sample(rng_a, 50)[1], copy.sample(rng_b, 50)[1])


def test_storage_grows_with_the_entries_and_keeps_them():
    buffer = ReplayBuffer(capacity=300, dim=3)
    assert buffer.params.shape[0] < 300  # K seeds' buffers must not hold their capacity from the start
    added = []
    for step in range(40):  # 40 x 9 = 360 entries: grows, fills, then wraps around
        params = torch.full((9, 3), float(step)) + torch.arange(9.0)[:, None] / 10
        buffer.add(params, params[:, 0])
        added.append(params)
        assert buffer.params.shape[0] >= len(buffer) and buffer.params.shape[0] <= 300
    everything = torch.cat(added)
    params, returns = buffer.entries(1)
    torch.testing.assert_close(params, everything[-300:])  # the newest 300, oldest first
    torch.testing.assert_close(returns, everything[-300:, 0])
    assert buffer.params.shape[0] == 300
    restored = ReplayBuffer(capacity=300, dim=3)
    restored.restore(params, returns, buffer.stored)
    torch.testing.assert_close(restored.entries(1)[0], params)
    torch.testing.assert_close(restored.weights().sort().values, buffer.weights().sort().values)


def test_sample_returns_is_the_same_draw_as_sample():
    buffer = ReplayBuffer(50, 4)
    buffer.add(torch.randn(30, 4), torch.arange(30, dtype=torch.float32))
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(3):
        _, returns = buffer.sample(a, 16)
        assert torch.equal(buffer.sample_returns(b, 16), returns)
    assert not torch.equal(buffer.sample_returns(b, 16), buffer.sample_returns(b, 16))
