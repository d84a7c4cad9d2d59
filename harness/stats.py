"""The statistics behind a resolved rate a skeptic accepts: intervals and a paired test.

* `wilson_interval`: the Wilson score interval for a binomial proportion.
* `bootstrap_mean_interval`: a seeded percentile bootstrap over instances (resolved
  rate, or the paired difference of two runs' rates), so a report reproduces exactly.
* `mcnemar_exact`: the exact McNemar test of two runs on the same instances.

All intervals default to 95%. Everything is pure arithmetic except the bootstrap,
which draws with numpy's PCG64 generator from a fixed seed.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 10_000
SEED = 0
CHUNK = 1_000  # resamples drawn at once: bounds memory to CHUNK * n indices


def z_score(level: float = LEVEL) -> float:
    """The two-sided standard normal quantile: z = Phi^-1(1 - (1 - level) / 2); 1.959964 for 95%."""
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials.

    With p = k/n and z = z_score(level):
        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
        interval = [centre - half, centre + half], clipped to [0, 1].
    n = 0 says nothing: (0, 1).
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_score(level)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


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
