"""harness.stats against numbers worked out by hand (stated in each test) and against SciPy."""

import math

import pytest
from scipy.stats import binom, binomtest

from atlas.harness import stats


def test_z_score_for_95_percent():
    # Phi^-1(0.975)
    assert stats.z_score(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize("k, n, expected", [
    # p = 0.3, z = 1.96: centre = (0.3 + 0.19207) / 1.38415 = 0.35553, half = 0.24775
    (3, 10, (0.10779, 0.60322)),
    # p = 0: upper = (z^2 / n) / (1 + z^2 / n) = 0.38415 / 1.38415
    (0, 10, (0.0, 0.27753)),
    (10, 10, (0.72247, 1.0)),
    # p = 0.5, n = 100: centre 0.5, half = 1.96 / 1.038415 * sqrt(0.0025 + 0.0000960) = 0.09617
    (50, 100, (0.40383, 0.59617)),
])
def test_wilson_interval_by_hand(k, n, expected):
    assert stats.wilson_interval(k, n) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("k, n", [(0, 1), (1, 3), (7, 20), (19, 20), (123, 500), (500, 500)])
def test_wilson_interval_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert stats.wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_wilson_interval_edges():
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.wilson_interval(2, 10, level=0.99)[1] > stats.wilson_interval(2, 10)[1]
    with pytest.raises(ValueError, match=r"\[0, n\]"):
        stats.wilson_interval(11, 10)


def test_bootstrap_is_seeded_and_reproducible():
    values = [0.5 * i * i for i in range(15)]  # continuous values: another seed moves the quantiles
    first = stats.bootstrap_mean_interval(values, seed=7)
    assert stats.bootstrap_mean_interval(values, seed=7) == first
    assert stats.bootstrap_mean_interval(values, seed=8) != first


@pytest.mark.parametrize("k, n", [(9, 10), (30, 100)])
def test_bootstrap_of_a_rate_follows_the_binomial(k, n):
    # resampling n instances of a 0/1 column counts Binomial(n, k/n) resolved ones, so the 2.5% and 97.5%
    # quantiles of the resampled rates are the binomial's: 9/10 -> [0.7, 1.0]; 30/100 -> [0.21, 0.39]
    low, high = stats.bootstrap_mean_interval([1.0] * k + [0.0] * (n - k))
    assert low == pytest.approx(binom.ppf(0.025, n, k / n) / n, abs=0.011)
    assert high == pytest.approx(binom.ppf(0.975, n, k / n) / n, abs=0.011)


def test_bootstrap_degenerate_and_empty():
    assert stats.bootstrap_mean_interval([1.0] * 5) == (1.0, 1.0)
    assert all(math.isnan(v) for v in stats.bootstrap_mean_interval([]))


def test_paired_bootstrap_of_a_difference_brackets_it():
    # 6 instances only the first run resolved, 1 only the second, 13 tied: difference +5/20 = 0.25
    differences = [1.0] * 6 + [-1.0] + [0.0] * 13
    low, high = stats.bootstrap_mean_interval(differences)
    assert low < 0.25 < high and -1 <= low and high <= 1


@pytest.mark.parametrize("b, c, expected", [
    (0, 0, 1.0),  # no discordant instance: nothing to test
    (3, 3, 1.0),  # a tie: 2 * P(X <= 3 | n=6) > 1, capped
    (5, 1, 14 / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6
    (10, 2, 158 / 4096),  # 2 * (1 + 12 + 66) / 2^12 = 0.0385742
    (0, 7, 2 / 128),  # 2 * C(7,0) / 2^7
])
def test_mcnemar_exact_by_hand(b, c, expected):
    assert stats.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("b, c", [(1, 0), (4, 9), (13, 2), (40, 25), (600, 650)])
def test_mcnemar_exact_matches_scipy_binomial_test(b, c):
    assert stats.mcnemar_exact(b, c) == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)


def test_mcnemar_is_symmetric_and_rejects_negatives():
    assert stats.mcnemar_exact(2, 11) == stats.mcnemar_exact(11, 2)
    with pytest.raises(ValueError, match="negative"):
        stats.mcnemar_exact(-1, 3)
