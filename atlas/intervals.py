"""The Wilson score interval of a resolved rate: the one copy, used by the live progress line and by reports."""

from __future__ import annotations

import math
from statistics import NormalDist

LEVEL = 0.95


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
