"""The statistics behind a resolved rate a skeptic accepts: intervals and a paired test.

* `wilson_interval`: the Wilson score interval for a binomial proportion (atlas.intervals, re-exported).
* `bootstrap_mean_interval`: a seeded percentile bootstrap over instances (resolved
  rate, or the paired difference of two runs' rates), so a report reproduces exactly.
* `mcnemar_exact`: the exact McNemar test of two runs on the same instances.

All intervals default to 95%. Everything is pure arithmetic except the bootstrap,
which draws with numpy's PCG64 generator from a fixed seed.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from atlas.intervals import LEVEL, wilson_interval, z_score  # noqa: F401  (the one copy, shared with the core's progress line; re-exported)

RESAMPLES = 10_000
SEED = 0
CHUNK = 1_000  # resamples drawn at once: bounds memory to CHUNK * n indices


def bootstrap_mean_interval(values: Sequence[float], level: float = LEVEL, resamples: int = RESAMPLES,
                            seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per instance).

    Draws `resamples` samples of n instances with replacement (numpy
    default_rng(seed)), takes each sample's mean, and returns the (1 - level) / 2 and
    (1 + level) / 2 quantiles of those means (numpy's linear interpolation). For 0/1
    values the mean is a resolved rate; for a_i - b_i it is a paired rate difference.
    The same values, level, resamples and seed always give the same interval.
    No values: (nan, nan).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, CHUNK):
        draws = rng.integers(0, data.size, size=(min(CHUNK, resamples - start), data.size))
        means.append(data[draws].mean(axis=1))
    lower, upper = np.quantile(np.concatenate(means), [(1 - level) / 2, (1 + level) / 2])
    return float(lower), float(upper)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (only the first run resolved)
    and c (only the second did).

    Under H0 (both runs equally good) each of the n = b + c discordant instances goes
    either way with probability 1/2, so min(b, c) ~ Binomial(n, 1/2) and
        p = min(1, 2 * sum_{i=0}^{min(b,c)} C(n, i) / 2^n).
    No discordant instance (n = 0) gives p = 1. Exact integer sums: valid for any n.
    """
    if only_first < 0 or only_second < 0:
        raise ValueError(f"discordant counts cannot be negative; got {only_first}, {only_second}")
    n = only_first + only_second
    tail = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**n)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one instance from n attempts with c successes (Chen et al., 2021):
    the chance that at least one of k attempts drawn without replacement succeeds,
        pass@k = 1 - C(n - c, k) / C(n, k).
    """
    _check_attempts(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased pass^k of one instance (Yao et al., 2024): the chance that all k attempts drawn
    without replacement succeed,
        pass^k = C(c, k) / C(n, k).
    """
    _check_attempts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_attempts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Two-sided Student t quantile t_{df}(1 - (1 - level) / 2): exact for df 1 and 2, else the
    Cornish-Fisher expansion in 1/df to the fourth order (within 0.1% of the exact value for df >= 3)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1; got {df}")
    p = 1 - (1 - level) / 2
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = z_score(level)
    terms = [(z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96,
             (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
             (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160]
    return z + sum(term / df ** (power + 1) for power, term in enumerate(terms))
