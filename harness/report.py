"""`atlas report`: a graded run (or a sweep of runs) as numbers a skeptic accepts.

Computes, from the `Side`s atlas.harness.sides loads (one row per instance; a run with
repeats gives one side per repeat), a `RunReport` (resolved rate with Wilson and bootstrap 95% intervals, breakdowns per
repository / difficulty / final status / grading outcome, tokens, hours, dollars per
resolved issue, and the finish line: atlas.finish_line's projected time for the selection and a full
Verified run's hours and dollars). atlas.harness.tables lays it out, atlas.harness.commands prints it and
writes the files.

Every instance the run selected is in the denominator but infrastructure failures: an
unfinished or ungraded instance counts as unresolved, and the report says how many there
are. An instance that ended in an infrastructure status (image missing, environment,
model server) or that the harness could not grade is not a score: it is left out of the
resolved rate and its intervals, and counted apart ("infra" column, status breakdown).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from atlas.finish_line import Projection, pricing_of, project
from atlas.harness import stats
from atlas.harness.sides import InstanceRow, Side

DIFFICULTY_ORDER = ("<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours")


@dataclass
class Rate:
    """k resolved of n, with 95% intervals; `group` names the breakdown row."""

    n: int
    resolved: int
    rate: float | None
    wilson: tuple[float, float]
    bootstrap: tuple[float, float] | None = None
    group: str = "all"


@dataclass
class Totals:
    """Usage and cost over a report's instances; None where the side did not record it."""

    prompt_tokens: int | None
    cached_prompt_tokens: int | None
    completion_tokens: int | None
    tokens_estimated: bool
    instance_hours: float | None  # sum of per-instance wall clock (parallel workers overlap)
    elapsed_hours: float | None  # the sessions' start to finish; whole runs only
    gpu_hours: float | None
    gpu_hours_basis: str
    cost_usd: float | None
    cost_basis: str
    cost_per_resolved: float | None
    tokens_per_resolved: float | None
    finish_line: Projection | None = None  # whole runs: the selection's projected time, a Verified run's cost


@dataclass
class RunReport:
    label: str
    path: str
    kind: str
    overall: Rate
    by_repo: list[Rate]
    by_difficulty: list[Rate]
    by_status: list[Rate]
    by_outcome: list[Rate]
    patch_apply_failures: int
    totals: Totals
    steps: list[int]  # per finished instance, for the distributions
    tokens: list[int]
    bootstrap: dict[str, Any]
    warnings: list[str]
    infra_failures: int = 0  # instances left out of `overall` and the repo / difficulty rates


def rate_of(rows: list[InstanceRow], group: str = "all", bootstrap: dict | None = None) -> Rate:
    """Resolved count and rate of `rows` with its Wilson interval (and a bootstrap one when asked)."""
    n, k = len(rows), sum(r.resolved for r in rows)
    boot = None
    if bootstrap is not None and n:
        boot = stats.bootstrap_mean_interval([float(r.resolved) for r in rows], **bootstrap)
    return Rate(n, k, k / n if n else None, stats.wilson_interval(k, n), boot, group)


def breakdown(rows: list[InstanceRow], key: Callable[[InstanceRow], str]) -> list[Rate]:
    """One Rate per value of `key`, SWE-bench Verified's difficulty buckets in their natural order, others sorted."""
    groups: dict[str, list[InstanceRow]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    order = sorted(groups, key=lambda g: (DIFFICULTY_ORDER.index(g) if g in DIFFICULTY_ORDER else len(DIFFICULTY_ORDER), g))
    return [rate_of(groups[name], name) for name in order]


def _sum(rows: list[InstanceRow], attribute: str) -> float | None:
    values = [getattr(r, attribute) for r in rows]
    return None if not values or any(v is None for v in values) else sum(values)


def _elapsed_hours(manifest: dict) -> float | None:
    seconds = 0.0
    for session in manifest.get("sessions", []):
        if session.get("started_at") and session.get("finished_at"):
            start, end = (datetime.fromisoformat(session[k]) for k in ("started_at", "finished_at"))
            seconds += (end - start).total_seconds()
    return seconds / 3600 if seconds else None


def _model_settings(side: Side) -> dict:
    return {**side.manifest.get("config", {}).get("model", {}), **side.manifest.get("model", {})}


def _share(side: Side, rows: list[InstanceRow], whole: bool) -> tuple[float, str]:
    """The part of run-level server figures owed to `rows`: 1, or their share of the model time."""
    if whole:
        return 1.0, ""
    total = side.manifest.get("totals", {}).get("model_seconds") or 0
    return ((_sum(rows, "model_seconds") or 0) / total if total else 0.0), ", prorated by model time"


def _cost(side: Side, rows: list[InstanceRow], whole: bool) -> tuple[float | None, str]:
    """(dollars, how they were counted)."""
    if side.kind == "published":
        return None, "unknown (published result)"
    server = side.manifest.get("totals", {}).get("server_cost_usd")
    if server is not None:
        share, how = _share(side, rows, whole)
        return server * share, f"GPU time of the vLLM server (server_cost_usd{how})"
    pricing = (_model_settings(side).get("pricing") or {}).get("kind")
    bases = {"api": "API list prices per token (sum of status.json cost_usd)",
             "local": "GPU-seconds of each request (sum of status.json cost_usd; overlapping requests count twice)"}
    basis = bases.get(pricing, f"no pricing configured for the {_model_settings(side).get('backend', '?')} "
                               "backend (sum of status.json cost_usd)")
    return _sum(rows, "cost_usd"), basis


def _gpu_hours(side: Side, rows: list[InstanceRow], whole: bool) -> tuple[float | None, str]:
    """(GPU hours, how they were counted) for a local model; None for API and GPU-less models."""
    if side.kind == "published":
        return None, "unknown (published result)"
    model = _model_settings(side)
    if model.get("backend") != "vllm" and (model.get("pricing") or {}).get("kind") != "local":
        return None, f"not applicable: the {model.get('backend', '?')} backend uses no local GPU"
    server = side.manifest.get("totals", {}).get("server_wall_seconds")
    if server is not None:
        share, how = _share(side, rows, whole)
        return server * share / 3600, f"wall time of the vLLM server (server_wall_seconds{how})"
    return (_sum(rows, "model_seconds") or 0) / 3600, "sum of per-instance model time (model_seconds)"


def finish_line_of(side: Side, rows: list[InstanceRow]) -> Projection | None:
    """The finish line from the run's measured instances (atlas.finish_line); None for published results."""
    if side.kind != "run":
        return None
    config = side.manifest.get("config", {})
    finished = [r for r in rows if r.wall_seconds is not None]
    return project(len(rows), [r.wall_seconds for r in finished],
                   [r.grading_seconds for r in rows if r.grading_seconds is not None],
                   [r.cost_usd or 0.0 for r in finished], config.get("run", {}).get("workers") or 1,
                   config.get("harness", {}).get("workers") or 1, pricing_of(_model_settings(side)))


def totals_of(side: Side, rows: list[InstanceRow], resolved: int, whole: bool) -> Totals:
    prompt, completion = _sum(rows, "prompt_tokens"), _sum(rows, "completion_tokens")
    cost, cost_basis = _cost(side, rows, whole)
    gpu, gpu_basis = _gpu_hours(side, rows, whole)
    wall = _sum(rows, "wall_seconds")
    tokens = None if prompt is None or completion is None else prompt + completion
    return Totals(
        prompt_tokens=prompt, cached_prompt_tokens=_sum(rows, "cached_prompt_tokens"), completion_tokens=completion,
        tokens_estimated=bool(side.manifest.get("totals", {}).get("usage", {}).get("estimated")),
        instance_hours=None if wall is None else wall / 3600,
        elapsed_hours=_elapsed_hours(side.manifest) if whole else None,
        gpu_hours=gpu, gpu_hours_basis=gpu_basis, cost_usd=cost, cost_basis=cost_basis,
        cost_per_resolved=cost / resolved if cost is not None and resolved else None,
        tokens_per_resolved=tokens / resolved if tokens is not None and resolved else None,
        finish_line=finish_line_of(side, rows) if whole else None,
    )


def build_report(side: Side, ids: list[str] | None = None, seed: int = stats.SEED,
                 resamples: int = stats.RESAMPLES) -> RunReport:
    """The report of `side` over `ids` (default: all its instances; a comparison passes the shared ones)."""
    ids = sorted(side.rows) if ids is None else ids
    rows = [side.rows[i] for i in ids]
    scored = [r for r in rows if not r.infra]
    boot = {"level": stats.LEVEL, "resamples": resamples, "seed": seed}
    overall = rate_of(scored, bootstrap=boot)
    finished = [r for r in rows if r.steps is not None]
    difficulties = [r for r in scored if r.difficulty]
    return RunReport(
        label=side.label, path=str(side.path), kind=side.kind, overall=overall,
        infra_failures=len(rows) - len(scored),
        by_repo=breakdown(scored, lambda r: r.repo),
        by_difficulty=breakdown(difficulties, lambda r: r.difficulty) if difficulties else [],
        by_status=breakdown(rows, lambda r: r.status), by_outcome=breakdown(rows, lambda r: r.outcome),
        patch_apply_failures=sum(r.outcome == "patch_apply_failed" for r in rows),
        # a repeat is part of its run: run-level server figures are prorated to it
        totals=totals_of(side, rows, overall.resolved, whole=len(ids) == len(side.rows) and side.repeat is None),
        steps=[r.steps for r in finished],
        tokens=[(r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in finished],
        bootstrap=boot, warnings=list(side.warnings),
    )
