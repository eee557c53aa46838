import pickle

import numpy as np
import pytest

from lmforge.analyze.histogram import LogHistogram


def test_percentiles_within_half_a_percent_and_exact_extremes():
    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=6, sigma=2, size=20_000).astype(np.int64)
    hist = LogHistogram()
    hist.add_many(values[:7000])
    hist.add_many(values[7000:])
    assert hist.count == len(values)
    assert hist.total == int(values.sum())
    assert (hist.minimum, hist.maximum) == (int(values.min()), int(values.max()))
    ordered = np.sort(values)
    for q in (1, 10, 50, 90, 99):
        exact = ordered[int(np.ceil(q / 100 * len(values))) - 1]
        assert hist.percentile(q) == pytest.approx(exact, rel=0.005, abs=0.5)


def test_small_values_are_exact():
    hist = LogHistogram()
    hist.add_many([0, 1, 1, 2, 3, 100, 127])
    assert hist.percentile(50) == 2
    assert hist.percentile(100) == 127
    assert hist.percentile(0.1) == 0


def test_merge_equals_single_histogram_and_survives_pickle():
    a, b, both = LogHistogram(), LogHistogram(), LogHistogram()
    a.add_many([5, 500, 50_000])
    b.add_many([7, 70_000_000])
    both.add_many([5, 500, 50_000, 7, 70_000_000])
    a.merge(pickle.loads(pickle.dumps(b)))
    assert np.array_equal(a.buckets, both.buckets)
    assert a.summary() == both.summary()
    assert sum(c for _, _, c in both.coarse()) == 5


def test_negative_values_are_refused():
    with pytest.raises(ValueError):
        LogHistogram().add_many([3, -1])
