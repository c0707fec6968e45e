"""suite.core.stats: intervals need MIN_SEEDS_FOR_CI seeds; paired tests at the seed level."""

import numpy as np
import pytest

from suite.core import stats


def test_bootstrap_ci_needs_five_values():
    assert stats.bootstrap_ci([0.1, 0.5, 0.9, 0.3]) is None
    lo, hi = stats.bootstrap_ci([0.1, 0.5, 0.9, 0.3, 0.7])
    assert 0.1 <= lo < 0.5 < hi <= 0.9


def test_t_band_has_no_interval_below_five_runs():
    mean, low, high = stats.t_band(np.array([[0.1, 0.2], [0.3, 0.4]]))
    assert mean.tolist() == pytest.approx([0.2, 0.3]) and low is None and high is None
    mean, low, high = stats.t_band(np.array([[0.1], [0.2], [0.3], [0.4], [0.5]]))
    assert low[0] < 0.3 < high[0]


def test_paired_t_is_over_seeds():
    assert stats.paired_t_p([0.5, 0.6], [0.5, 0.6]) == 1.0
    assert stats.paired_t_p([0.5, 0.6], [0.4, 0.5]) == 0.0
    assert 0.0 < stats.paired_t_p([0.5, 0.6, 0.7], [0.45, 0.62, 0.6]) < 1.0
