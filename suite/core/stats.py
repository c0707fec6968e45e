"""Statistics for reports: Wilson and bootstrap intervals, paired tests, ranks, Pareto fronts.

Thin wrappers over scipy and scikit-posthocs; no hand-written test statistics. Intervals over
seeds need :data:`MIN_SEEDS_FOR_CI` seeds: with fewer, a "95%" interval is the min-max.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_TOL = 1e-12  # differences below this are float noise (e.g. 0.8 - 0.1 per seed)
# Below 5 seeds a percentile bootstrap of the mean is little more than the sample's min-max
# and a t-interval is wider than the plot; such intervals are not shown.
MIN_SEEDS_FOR_CI = 5


def wilson_ci(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (``successes`` may be fractional)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean (sample standard deviation / sqrt(n)); 0 for fewer than 2."""
    if len(values) < 2 or max(values) - min(values) <= _TOL:
        return 0.0
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (scipy.stats.bootstrap), seeded.

    Returns None for fewer than :data:`MIN_SEEDS_FOR_CI` values (no trustworthy interval);
    a constant sample gives the degenerate interval (x, x).
    """
    if len(values) < MIN_SEEDS_FOR_CI:
        return None
    data = np.asarray(values, dtype=float)
    if np.ptp(data) <= _TOL:
        return (float(data[0]), float(data[0]))
    from scipy import stats

    res = stats.bootstrap(
        (data,),
        np.mean,
        confidence_level=level,
        n_resamples=resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def t_band(
    values: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Column-wise mean and Student-t interval of a (runs x points) array, for plot bands.

    The interval is None below :data:`MIN_SEEDS_FOR_CI` runs (no band is drawn).
    """
    from scipy import stats

    mean = values.mean(axis=0)
    n = values.shape[0]
    if n < MIN_SEEDS_FOR_CI:
        return mean, None, None
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_t_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided paired t-test p-value (scipy); None below 2 pairs, 1.0 for equal samples.

    A constant non-zero difference has no variance, so the t statistic is undefined; it is
    reported as p = 0 (every pair moved the same way, by the same amount).
    """
    if len(a) != len(b) or len(a) < 2:
        return None
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if np.all(np.abs(diffs) <= _TOL):
        return 1.0
    if np.ptp(diffs) <= _TOL:
        return 0.0
    from scipy import stats

    return float(stats.ttest_rel(a, b).pvalue)


def pareto_front(costs: Sequence[float], gains: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (lower cost and higher gain), by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -gains[i]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if gains[i] > best:
            front.append(i)
            best = gains[i]
    return front


def friedman_nemenyi(
    table: np.ndarray, labels: Sequence[str]
) -> tuple[float | None, dict[str, float], Any]:
    """Friedman test and Nemenyi post-hoc over a (blocks x methods) table of scores.

    Higher scores are better; rank 1 is best. Uses scipy.stats.friedmanchisquare and
    scikit_posthocs.posthoc_nemenyi_friedman.

    Returns:
        The Friedman p-value (None with fewer than 2 blocks or 3 methods), each method's mean
        rank, and the Nemenyi p-value matrix as a pandas DataFrame (None when not computed).
    """
    from scipy import stats

    ranks = np.vstack([stats.rankdata(-row) for row in table]) if len(table) else table
    mean_ranks = {lab: float(r) for lab, r in zip(labels, ranks.mean(axis=0), strict=True)}
    if table.shape[0] < 2 or table.shape[1] < 3:
        return None, mean_ranks, None
    import pandas as pd
    import scikit_posthocs as sp

    p = float(stats.friedmanchisquare(*table.T).pvalue)
    sig = sp.posthoc_nemenyi_friedman(pd.DataFrame(table, columns=list(labels)))
    return p, mean_ranks, sig
