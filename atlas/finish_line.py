"""The finish line: from measured per-instance times, when the selection ends and what a full Verified run costs.

Agents and grading overlap (grading as you go), so a selection of n instances takes about
    max(n * agent_s / workers, n * grade_s / grade_workers) + grade_s
(the longer of the two phases, then the last patch's grading), where agent_s and grade_s
are the mean measured seconds per instance. A full SWE-bench Verified run (500 instances)
is the same formula at n = 500. Its dollars: a local model holds its GPU for the whole run,
priced per GPU-second by `model.pricing` (atlas.costs); an API model costs the measured
dollars per instance times 500. An extrapolation from the instances measured so far, and
said to be one wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

from pydantic import TypeAdapter, ValidationError

from atlas.costs import LocalPricing, Pricing

VERIFIED_INSTANCES = 500


@dataclass(frozen=True)
class Projection:
    """What the measured instances project: seconds for the selection, and a full Verified run."""

    measured: int  # instances whose agent time is measured
    selection_seconds: float
    verified_seconds: float
    verified_usd: float | None  # None: the model has no pricing
    usd_basis: str

    def summary(self) -> str:
        """One line for the progress display and the report."""
        dollars = "no pricing" if self.verified_usd is None else f"${self.verified_usd:,.2f}"
        return (f"selection ~{hours_text(self.selection_seconds)}; Verified 500: "
                f"~{hours_text(self.verified_seconds)}, {dollars} (from {self.measured} measured)")


def hours_text(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def pricing_of(model_settings: dict[str, Any]) -> Pricing | None:
    """The model's pricing section (atlas.costs), or None where it has none or an invalid one."""
    raw = model_settings.get("pricing")
    if not raw:
        return None
    try:
        return TypeAdapter(Pricing).validate_python(raw)
    except ValidationError:
        return None


def wall_seconds(n: int, agent_s: float, grade_s: float, workers: int, grade_workers: int) -> float:
    """Wall time of n instances with agents and grading overlapping (see the module docstring)."""
    return max(n * agent_s / workers, n * grade_s / grade_workers) + grade_s


def project(total: int, agent_seconds: list[float], grade_seconds: list[float], costs_usd: list[float],
            workers: int, grade_workers: int, pricing: Pricing | None) -> Projection | None:
    """The projection from measured instances; None until one instance is measured.

    `grade_seconds` empty (nothing graded yet, or grading off) counts grading as free.
    """
    if not agent_seconds:
        return None
    agent_s, grade_s = fmean(agent_seconds), fmean(grade_seconds) if grade_seconds else 0.0
    selection = wall_seconds(total, agent_s, grade_s, workers, grade_workers)
    verified = wall_seconds(VERIFIED_INSTANCES, agent_s, grade_s, workers, grade_workers)
    if isinstance(pricing, LocalPricing):
        usd, basis = verified * pricing.per_gpu_second(), "GPU-seconds of the whole run at model.pricing"
    elif pricing is not None and pricing.kind == "api":
        usd, basis = VERIFIED_INSTANCES * fmean(costs_usd), "measured dollars per instance x 500"
    elif pricing is not None:
        usd, basis = 0.0, "free"
    else:
        usd, basis = None, "no pricing configured for the model"
    return Projection(len(agent_seconds), selection, verified, usd, basis)
