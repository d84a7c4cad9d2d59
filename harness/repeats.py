"""What repeated runs say: per-instance success frequency, pass@k and pass^k, the mean rate with
its intervals, the run-to-run spread, and the smallest difference the design can detect.

Input: the sides of one run with `run.repeats=k` (one per repeat, over the same instances).
pass@j and pass^j (1 <= j <= k) use the unbiased estimators per instance and average over
instances; their 95% intervals are seeded percentile bootstraps over instances, so they carry
both the instance sample and the run-to-run noise. The mean rate (= pass@1) also gets a
t interval across the k repeat rates, which carries only the run-to-run noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev

from atlas.harness import stats
from atlas.harness.power import CORRELATION, ICC, Design, detectable_difference, estimate_icc
from atlas.harness.report_load import Side
from atlas.harness.report import rate_of


@dataclass
class Estimate:
    value: float
    ci: tuple[float, float]


@dataclass
class RepeatsReport:
    label: str
    instances: int
    repeats: int
    rates: list[float]  # each repeat's resolved rate
    successes: dict[str, int]  # instance -> repeats that resolved it
    pass_at: dict[int, Estimate]
    pass_hat: dict[int, Estimate]
    mean: Estimate  # the mean rate over repeats (= pass@1), bootstrap over instances
    mean_t: tuple[float, float] | None  # t interval across the repeat rates (k >= 2)
    spread_sd: float | None  # standard deviation of the repeat rates
    spread_range: tuple[float, float]  # lowest and highest repeat rate
    icc: float | None  # measured share of variance between instances; None: not measurable
    icc_used: float  # the measured icc, or the default where it cannot be measured
    mdd_paired: float  # smallest difference (fraction) detectable at 80% power vs a paired arm of this design
    mdd_unpaired: float


def analyze(label: str, sides: list[Side], seed: int = stats.SEED, resamples: int = stats.RESAMPLES) -> RepeatsReport:
    ids = sorted(set.intersection(*(set(s.rows) for s in sides)))
    k = len(sides)
    successes = {i: sum(s.rows[i].resolved for s in sides) for i in ids}
    boot = {"seed": seed, "resamples": resamples}

    def estimate(per_instance: list[float]) -> Estimate:
        return Estimate(mean(per_instance) if per_instance else math.nan,
                        stats.bootstrap_mean_interval(per_instance, **boot))

    pass_at = {j: estimate([stats.pass_at_k(k, successes[i], j) for i in ids]) for j in range(1, k + 1)}
    pass_hat = {j: estimate([stats.pass_hat_k(k, successes[i], j) for i in ids]) for j in range(1, k + 1)}
    rates = [rate_of([s.rows[i] for i in ids]).rate or 0.0 for s in sides]
    sd = stdev(rates) if k >= 2 else None
    mean_t = None
    if sd is not None:
        half = stats.t_quantile(k - 1) * sd / math.sqrt(k)
        mean_t = (max(0.0, mean(rates) - half), min(1.0, mean(rates) + half))
    icc = estimate_icc(list(successes.values()), k)
    rate = min(max(mean(rates), 0.01), 0.99)  # a rate of 0 or 1 says nothing about the variance: bound it
    design = Design(rate=rate, repeats=k, icc=ICC if icc is None else icc, correlation=CORRELATION)
    n = max(1, len(ids))
    return RepeatsReport(
        label=label, instances=len(ids), repeats=k, rates=rates, successes=successes, pass_at=pass_at,
        pass_hat=pass_hat, mean=pass_at[1], mean_t=mean_t, spread_sd=sd, spread_range=(min(rates), max(rates)),
        icc=icc, icc_used=design.icc, mdd_paired=detectable_difference(n, design),
        mdd_unpaired=detectable_difference(n, Design(rate=rate, repeats=k, icc=design.icc, correlation=0.0)),
    )
