"""Replay buffer: ring storage, recency-weighted sampling (1/x^1.1), restore."""

import pytest
import torch

from fastgen.poligen.buffer import ReplayBuffer


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
    restored.restore(params, returns, buffer.stored, buffer.block_starts(1))
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


def test_sample_into_out_is_the_same_draw_written_in_place():
    buffer = ReplayBuffer(50, 4)
    buffer.add(torch.randn(30, 4), torch.arange(30, dtype=torch.float32))
    a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    out = (torch.full((2, 16, 4), torch.nan), torch.full((2, 16), torch.nan))  # two seeds' rows
    params, returns = buffer.sample(a, 16, out=(out[0][1], out[1][1]))
    assert params.data_ptr() == out[0][1].data_ptr() and returns.data_ptr() == out[1][1].data_ptr()
    expected_params, expected_returns = buffer.sample(b, 16)
    assert torch.equal(out[0][1], expected_params) and torch.equal(out[1][1], expected_returns)
    assert out[0][0].isnan().all() and out[1][0].isnan().all()  # the other seed's rows untouched
    assert torch.equal(buffer.params[expected_returns.long()], expected_params)  # returns index their params


def test_one_entry_blocks_keep_the_exact_power_law():
    buffer = _filled(capacity=6, count=9)  # P = 1: each add is a block of one
    age = (buffer.stored + 1 - buffer.stamps[:len(buffer)]).double()
    assert torch.equal(buffer.weights(), age.pow(-1.1))


def test_entries_of_one_iteration_are_equally_exposed_over_their_lifetime():
    P, capacity = 16, 160
    buffer = ReplayBuffer(capacity, 1)
    exposure = torch.zeros(40 * P, dtype=torch.float64)  # expected draws per update, summed over iterations
    for it in range(40):
        stamps = torch.arange(it * P, (it + 1) * P, dtype=torch.float32)
        buffer.add(stamps[:, None], stamps)
        weights = buffer.weights()
        assert weights.unique().numel() == len(buffer) // P  # one weight per block
        exposure.index_add_(0, buffer.returns[:len(buffer)].long(), weights / weights.sum())
    lifetimes = exposure[:30 * P].view(30, P)  # blocks that lived their whole life in the buffer
    torch.testing.assert_close(lifetimes, lifetimes[:, :1].expand(-1, P), rtol=1e-12, atol=0)
    # each block weighs what its P entries would have weighed one by one
    age = (buffer.stored + 1 - buffer.stamps).double()
    newest = buffer.stamps > buffer.stored - P
    torch.testing.assert_close(buffer.weights()[newest].sum(), age[newest].pow(-1.1).sum(), rtol=1e-12, atol=0)


def test_sampling_draws_a_block_evenly():
    buffer = ReplayBuffer(64, 1)
    buffer.add(torch.zeros(24, 1), torch.arange(24.0))
    buffer.add(torch.zeros(8, 1), torch.arange(24.0, 32.0))
    rng = torch.Generator().manual_seed(2)
    freq = torch.bincount(buffer.sample_returns(rng, 400_000).long(), minlength=32).double() / 400_000
    newest = freq[24:]
    assert (newest - newest.mean()).abs().max() < 0.004  # ages 1..8 would differ ~10x without block weights
    assert newest.mean() > 2 * freq[:24].mean()


def test_restore_keeps_blocks_and_defaults_to_one_entry_blocks():
    buffer = ReplayBuffer(10, 2)
    for block in range(4):  # blocks of 3; the oldest two entries are evicted
        buffer.add(torch.randn(3, 2), torch.randn(3))
    params, returns = buffer.entries(1)
    copy = ReplayBuffer(10, 2)
    copy.restore(params, returns, buffer.stored, buffer.block_starts(1))
    assert torch.equal(copy.weights(), buffer.weights())
    legacy = ReplayBuffer(10, 2)
    legacy.restore(params, returns, buffer.stored)
    age = (legacy.stored + 1 - legacy.stamps).double()
    assert torch.equal(legacy.weights(), age.pow(-1.1))


def _with_archive(capacity=4, buckets=4, per_bucket=2, share=0.25):
    from fastgen.poligen.buffer import ReturnArchive
    return ReplayBuffer(capacity, 3, archive=ReturnArchive(buckets, per_bucket, 3, 0.0, 100.0), archive_share=share)


def test_the_archive_keeps_the_newest_of_every_return_bucket_after_the_recent_entries_moved_on():
    buffer = _with_archive()
    returns = [5.0, 10.0, 30.0, 12.0, 7.0] + [90.0 + i for i in range(6)] + [-50.0, 150.0]  # beyond: end buckets
    for r in returns:
        buffer.add(torch.full((1, 3), r), torch.tensor([r]))
    assert set(buffer.returns.tolist()) == {94.0, 95.0, -50.0, 150.0}  # the ring: the 4 newest
    archive = buffer.archive
    held = {b: sorted(archive.returns[archive.held()][archive.bucket(archive.returns[archive.held()]) == b].tolist())
            for b in range(4)}
    # bucket 0 [0, 25): 5, 10, 12, 7 and -50 offered, the newest two kept; bucket 1 [25, 50): 30; bucket 2: none;
    # bucket 3 [75, 100] and beyond: 90-95 and 150 offered, the newest two kept
    assert held == {0: [-50.0, 7.0], 1: [30.0], 2: [], 3: [95.0, 150.0]}
    assert len(archive) == 5 and archive.offered.tolist() == [5, 1, 0, 7]
    assert torch.equal(archive.params[archive.held()][:, 0], archive.returns[archive.held()])  # params moved with them


def test_a_share_of_every_batch_comes_from_the_archive_every_bucket_alike():
    buffer = _with_archive(share=0.25)
    for r in [5.0, 6.0, 30.0, 80.0, 81.0, 82.0, 83.0]:
        buffer.add(torch.full((1, 3), r), torch.tensor([r]))
    rng = torch.Generator().manual_seed(0)
    params, returns = buffer.sample(rng, 16)
    assert params.shape == (16, 3) and torch.equal(params[:, 0], returns)
    recent = set(buffer.returns.tolist())
    assert all(r in recent for r in returns[:12].tolist())  # 16 - round(0.25 x 16) from the recent entries
    drawn = torch.cat([buffer.sample(rng, 16)[1][12:] for _ in range(3000)])
    buckets = buffer.archive.bucket(drawn)
    shares = torch.bincount(buckets, minlength=4).double() / len(drawn)
    torch.testing.assert_close(shares, torch.tensor([1 / 3, 1 / 3, 0.0, 1 / 3], dtype=torch.double), atol=0.02, rtol=0)
    assert torch.equal(buffer.sample_returns(torch.Generator().manual_seed(5), 16),
                       buffer.sample(torch.Generator().manual_seed(5), 16)[1])


def test_without_an_archive_the_draws_are_the_recency_weighted_ones_alone():
    buffer = _filled(capacity=10, count=10)
    index = torch.multinomial(buffer.weights(), 16, replacement=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(buffer.sample(torch.Generator().manual_seed(3), 16)[1], buffer.returns[index])


def test_the_archive_round_trips_and_refuses_another_layout():
    import pytest

    from fastgen.poligen.buffer import ReturnArchive
    buffer = _with_archive()
    for r in [5.0, 30.0, 31.0, 32.0, 90.0]:
        buffer.add(torch.full((1, 3), r), torch.tensor([r]))
    saved = buffer.archive.state_dict()
    assert saved["params"].shape == (4, 3)  # only the filled slots are written
    fresh = ReturnArchive(4, 2, 3, 0.0, 100.0)
    fresh.load_state_dict(saved)
    assert torch.equal(fresh.params, buffer.archive.params) and torch.equal(fresh.offered, buffer.archive.offered)
    with pytest.raises(ValueError, match="the checkpoint's archive has 4 buckets of 2 over"):
        ReturnArchive(5, 2, 3, 0.0, 100.0).load_state_dict(saved)


def test_buffer_share_counts_a_lucky_entry_as_the_recency_weights_say():
    """bench.buffer_share: one episode after the lucky entry at P = 1 it is the newest of a full buffer, drawn
    with probability 1 / sum_x x^-1.1 per sample; the archive adds share x batch / (filled buckets) per update."""
    from bench.buffer_share import Options, lucky_draws

    opts = Options(episodes=1, capacity=500)
    first, draws, samples = lucky_draws(opts, population=1, updates=20, buckets=0)
    newest = 1.0 / sum(x ** -1.1 for x in range(1, 501))
    assert first == pytest.approx(20 * 16 * newest, rel=1e-9) and draws == first and samples == 320

    opts = Options(episodes=64, capacity=640)
    plain, _, _ = lucky_draws(opts, population=64, updates=320, buckets=0)
    archived, _, _ = lucky_draws(opts, population=64, updates=320, buckets=20)
    # hopper's buckets over [-100, 3000] are 155 wide: returns 0-600 fill 5, the lucky 2003 a sixth alone
    assert archived == pytest.approx(plain * 12 / 16 + 320 * 4 / 6, rel=1e-9)
