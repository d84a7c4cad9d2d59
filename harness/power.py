"""Power analysis for resolved rates: the smallest difference a design can detect, and the design a
difference needs.

The model (a documented approximation, normal theory, two-sided test at level alpha):

* Instance i has a true success probability theta_i for each arm; one attempt succeeds with
  probability theta_i, and an arm's mean rate is p. A single attempt's variance p(1-p) splits
  into a between-instance part Var(theta) = icc * p(1-p) and a within-instance (run-to-run) part
  E[theta(1-theta)] = (1 - icc) * p(1-p). `icc` is how deterministic instances are: 1 means an
  instance always ends the same way, so repeats add nothing.
* Each arm averages k repeats per instance, so its per-instance rate has variance
  icc * p(1-p) + (1 - icc) * p(1-p) / k.
* Paired arms (the same instances) correlate their theta_i with coefficient r: the per-instance
  difference has variance
      var_d = 2 p(1-p) [ icc (1 - r) + (1 - icc) / k ];
  unpaired arms (independent instance samples) are r = 0.
* With n instances the difference has standard error sqrt(var_d / n), and a two-sided level-alpha
  test has the given power against a true difference
      d = (z_{1-alpha/2} + z_{power}) * sqrt(var_d / n)       (the minimum detectable difference);
  conversely n = ceil((z_{1-alpha/2} + z_{power})^2 * var_d / d^2).

With k = 1 and r = 0 this is the textbook two-proportion formula at the worst-case p = 0.5:
n = 1570 per arm for d = 5 points. The defaults, icc = 0.7 and r = 0.75, are rough published
figures for SWE-bench Verified: run-to-run swings of 2 to 6 points over 500 instances imply that
about a third of the single-attempt variance is within-instance, and pairing on the same instances
roughly halves the standard error. A run with repeats measures icc itself (`estimate_icc`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

ALPHA, POWER, ICC, CORRELATION, RATE = 0.05, 0.80, 0.7, 0.75, 0.5


@dataclass(frozen=True)
class Design:
    rate: float = RATE  # the arms' resolved rate (0.5 is the worst case)
    repeats: int = 1
    icc: float = ICC
    correlation: float = CORRELATION  # 0 = unpaired arms
    alpha: float = ALPHA
    power: float = POWER

    def __post_init__(self) -> None:
        checks = [(0 < self.rate < 1, "rate in (0, 1)"), (self.repeats >= 1, "repeats >= 1"),
                  (0 <= self.icc <= 1, "icc in [0, 1]"), (0 <= self.correlation <= 1, "correlation in [0, 1]"),
                  (0 < self.alpha < 1, "alpha in (0, 1)"), (0 < self.power < 1, "power in (0, 1)")]
        for ok, what in checks:
            if not ok:
                raise ValueError(f"power analysis needs {what}; got {self}")

    def variance(self) -> float:
        """var_d: the variance of one instance's difference between the two arms' mean rates."""
        spread = self.rate * (1 - self.rate)
        return 2 * spread * (self.icc * (1 - self.correlation) + (1 - self.icc) / self.repeats)

    def z(self) -> float:
        normal = NormalDist()
        return normal.inv_cdf(1 - self.alpha / 2) + normal.inv_cdf(self.power)


def detectable_difference(instances: int, design: Design) -> float:
    """The minimum detectable difference (a fraction: 0.05 = 5 points) with this many instances."""
    if instances < 1:
        raise ValueError(f"instances must be at least 1; got {instances}")
    return design.z() * math.sqrt(design.variance() / instances)


def instances_needed(effect: float, design: Design) -> int:
    """Instances per arm (the same ones, when paired) to detect `effect` (a fraction) with the design's power."""
    if not 0 < effect < 1:
        raise ValueError(f"effect must be a fraction in (0, 1), e.g. 0.05 for 5 points; got {effect}")
    return math.ceil(design.z() ** 2 * design.variance() / effect**2)


def estimate_icc(successes: list[int], repeats: int) -> float | None:
    """icc from a run with k >= 2 repeats: 1 - (mean within-instance variance) / p(1-p).

    c_i (k - c_i) / (k (k - 1)) is an unbiased estimate of theta_i (1 - theta_i); None when the rate is
    0 or 1 (no variance to split) or k < 2.
    """
    if repeats < 2 or not successes:
        return None
    p = sum(successes) / (repeats * len(successes))
    if p in (0.0, 1.0):
        return None
    within = sum(c * (repeats - c) for c in successes) / (repeats * (repeats - 1) * len(successes))
    return min(1.0, max(0.0, 1 - within / (p * (1 - p))))
