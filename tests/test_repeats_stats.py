"""pass@k / pass^k, the t quantile, the power analysis and the repeats summary against hand-worked numbers."""

import math
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from atlas.harness import stats
from atlas.harness.power import Design, detectable_difference, estimate_icc, instances_needed
from atlas.harness.repeats import analyze
from atlas.harness.report_load import InstanceRow, Side
from tests.test_report import inline


@pytest.mark.parametrize("n, c, k, at, hat", [
    (3, 1, 1, 1 / 3, 1 / 3),  # pass@1 = pass^1 = c/n
    (3, 1, 3, 1.0, 0.0),  # one success in three: some attempt of all three succeeds, not all do
    (3, 3, 3, 1.0, 1.0),
    (3, 0, 2, 0.0, 0.0),
    (5, 2, 2, 1 - 3 / 10, 1 / 10),  # 1 - C(3,2)/C(5,2); C(2,2)/C(5,2)
    (10, 4, 3, 1 - 20 / 120, 4 / 120),  # 1 - C(6,3)/C(10,3); C(4,3)/C(10,3)
])
def test_pass_at_k_and_pass_hat_k(n, c, k, at, hat):
    assert stats.pass_at_k(n, c, k) == pytest.approx(at)
    assert stats.pass_hat_k(n, c, k) == pytest.approx(hat)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        stats.pass_hat_k(3, 1, 4)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 200])
def test_t_quantile_matches_scipy(df):
    assert stats.t_quantile(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=2e-3)


def test_power_hand_worked():
    # unpaired, k = 1, p = 0.5: var_d = 2 * 0.25 = 0.5; n = (1.959964 + 0.841621)^2 * 0.5 / 0.05^2 = 1569.8
    unpaired = Design(rate=0.5, repeats=1, correlation=0.0)
    assert unpaired.variance() == pytest.approx(0.5)
    assert instances_needed(0.05, unpaired) == 1570
    # 500 instances: d = 2.801585 * sqrt(0.5 / 500) = 0.08859 (the +-4.4 point single-run interval, sqrt(2) x 2.8/1.96)
    assert detectable_difference(500, unpaired) == pytest.approx(0.088594, abs=1e-5)
    # paired, icc 0.7, r 0.75, k 3: var_d = 2 * 0.25 * (0.7 * 0.25 + 0.3 / 3) = 0.1375; n = 7.848879 * 0.1375 / 0.0025
    paired = Design(rate=0.5, repeats=3, icc=0.7, correlation=0.75)
    assert paired.variance() == pytest.approx(0.1375)
    assert instances_needed(0.05, paired) == 432
    assert detectable_difference(500, paired) == pytest.approx(2.801585 * math.sqrt(0.1375 / 500), rel=1e-5)
    # repeats cannot remove the between-instance variance: icc 1 makes k irrelevant
    assert Design(repeats=1, icc=1.0).variance() == Design(repeats=50, icc=1.0).variance()


def test_estimate_icc_hand_worked():
    # c = 3, 3, 0, 1 of k = 3: p = 7/12; mean within = (0 + 0 + 0 + 1*2) / (3*2*4) = 1/12; icc = 1 - (1/12)/(35/144)
    assert estimate_icc([3, 3, 0, 1], 3) == pytest.approx(23 / 35)
    assert estimate_icc([3, 0, 3, 0], 3) == pytest.approx(1.0)  # every instance always ends the same way
    assert estimate_icc([3, 3], 3) is None  # rate 1: nothing to split
    assert estimate_icc([1, 0], 1) is None


def test_atlas_power_command(capsys):
    code, out, err = inline(capsys, "power", "--effect", "5", "--unpaired")
    assert code == 0, err
    assert "1,570" in out
    code, out, _ = inline(capsys, "power", "--effect", "5", "--repeats", "3", "--instances", "500")
    assert code == 0 and "432" in out and "4.65 pts" in out
    code, _, err = inline(capsys, "power")
    assert code == 2 and "--effect" in err


def _side(label: str, resolved: dict[str, bool]) -> Side:
    rows = {i: InstanceRow(i, "r", "", "submitted", "", "resolved" if ok else "unresolved", ok) for i, ok in resolved.items()}
    return Side(label, Path("/nonexistent"), "run", rows, [])


def test_repeats_summary_hand_worked():
    # instance a: 3 of 3, b: 1 of 3, c: 0 of 3, d: 2 of 3
    runs = [{"a": True, "b": True, "c": False, "d": True},
            {"a": True, "b": False, "c": False, "d": True},
            {"a": True, "b": False, "c": False, "d": False}]
    report = analyze("x", [_side(f"x/r{n}", r) for n, r in enumerate(runs, 1)], resamples=2000)
    assert report.successes == {"a": 3, "b": 1, "c": 0, "d": 2}
    assert report.rates == [0.75, 0.5, 0.25]
    assert report.pass_at[1].value == pytest.approx(0.5)  # mean of 1, 1/3, 0, 2/3
    assert report.pass_at[3].value == pytest.approx(0.75)  # a, b and d succeed at least once
    assert report.pass_hat[3].value == pytest.approx(0.25)  # only a always succeeds
    assert report.pass_at[2].value == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert report.spread_sd == pytest.approx(0.25)
    assert report.spread_range == (0.25, 0.75)
    half = stats.t_quantile(2) * 0.25 / math.sqrt(3)
    assert half > 0.5 and report.mean_t == (0.0, 1.0)  # 4.30 * 0.144 = 0.62: clipped to [0, 1]
    low, high = report.pass_at[3].ci
    assert 0 <= low <= 0.75 <= high <= 1
