"""Equal-budget arms: what each arm of a comparison spent per instance, and which pairs are matched.

An arm is a run: `run.best_of.k` attempts per instance under `run.best_of.budget` caps (dollars,
GPU-seconds, wall clock), or a single attempt. Two arms are compared at a matched budget when
they share a cap, or when their mean spend per instance in dollars is within `TOLERANCE` of each
other; the pair's paired test (McNemar on the shared instances) is then the equal-budget test.
"""

from __future__ import annotations

from typing import Any

from atlas.harness.report import RunReport
from atlas.harness.report_load import Side
from atlas.harness.table import TableData, dollars, interval

TOLERANCE = 0.10  # relative difference of mean $ per instance still called "the same budget"
DIMENSIONS = ("usd", "gpu_seconds", "wall_seconds")


def arm(side: Side, report: RunReport, ids: list[str]) -> dict[str, Any]:
    """One arm over the instances `ids`: attempts, caps, mean spend per instance (None: not recorded), rate."""
    best_of = side.manifest.get("config", {}).get("run", {}).get("best_of") or {}
    caps = {k: v for k, v in (best_of.get("budget") or {}).items() if v is not None}
    rows = [side.rows[i] for i in ids]

    def per_instance(attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in rows]
        return None if not values or any(v is None for v in values) else sum(values) / len(values)

    return {"label": side.label, "kind": side.kind, "k": best_of.get("k", 1), "caps": caps,
            "cap": ", ".join(f"{k}={v:g}" for k, v in caps.items()) or "none",
            "usd": per_instance("cost_usd"), "gpu_seconds": per_instance("model_seconds"),
            "wall_seconds": per_instance("wall_seconds"), "rate": report.overall.rate, "wilson": report.overall.wilson}


def is_budgeted(arms: list[dict[str, Any]]) -> bool:
    return any(a["k"] > 1 or a["caps"] for a in arms)


def match(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """How two arms' budgets match, in words, or None."""
    for dimension in DIMENSIONS:
        if dimension in a["caps"] and a["caps"].get(dimension) == b["caps"].get(dimension):
            return f"same cap {dimension}={a['caps'][dimension]:g} per instance"
    if a["usd"] and b["usd"] and abs(a["usd"] - b["usd"]) <= TOLERANCE * max(a["usd"], b["usd"]):
        return f"mean spend within {TOLERANCE:.0%}: {dollars(a['usd'])} vs {dollars(b['usd'])} per instance"
    for dimension in DIMENSIONS:
        cap = a["caps"].get(dimension) or b["caps"].get(dimension)
        other = b if dimension in a["caps"] else a
        if cap and other[dimension] is not None and other[dimension] <= cap:
            return f"{other['label']} spent {other[dimension]:.4g} {dimension} per instance, within the other's cap of {cap:g}"
    return None


def matched_table(pairs: list[Any], matches: list[str | None]) -> TableData:
    """The paired test of every pair (atlas.harness.compare.Pair), with whether (and how) their budgets match."""
    rows = []
    for p, how in zip(pairs, matches):
        rows.append([p.first, p.second, how or "NOT matched: compare at equal cost before concluding",
                     f"{100 * p.difference:+.1f} pts", interval(p.difference_ci), f"{p.p_value:.4g}"])
    return TableData("paired test at the matched budget", ["A", "B", "budget", "A - B", "paired bootstrap 95% CI",
                                                           "McNemar p"], [rows], left=3)
