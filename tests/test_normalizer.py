"""Running observation statistics merged from (count, sum, sum of squares) batches."""

import numpy as np

from fastgen.normalizer import ObsStats


def test_merged_batches_equal_statistics_of_all_data():
    rng = np.random.default_rng(0)
    batches = [rng.normal(1.25, 0.05, (n, 3)) for n in (1, 40, 7, 300)]
    stats = ObsStats(3)
    assert np.array_equal(stats.std, np.ones(3)) and np.array_equal(stats.mean, np.zeros(3))
    for batch in batches:
        stats.update(len(batch), batch.sum(0), (batch**2).sum(0))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, everything.std(0), rtol=1e-9)


def test_constant_dimension_gets_unit_std():
    stats = ObsStats(2)
    data = np.stack([np.full(50, 3.0), np.arange(50.0)], axis=1)
    stats.update(50, data.sum(0), (data**2).sum(0))
    assert stats.std[0] == 1.0 and abs(stats.std[1] - data[:, 1].std()) < 1e-9
