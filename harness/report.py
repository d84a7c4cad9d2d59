"""`atlas report`: a graded run (or a sweep of runs) as numbers a skeptic accepts.

Loads run directories, sweep directories and published SWE-bench results into
`Side`s (one row per instance; a run with repeats gives one side per repeat) and computes
a `RunReport` (resolved rate with Wilson and bootstrap 95% intervals, breakdowns per
repository / difficulty / final status / grading outcome, tokens, hours, dollars per
resolved issue). atlas.harness.tables lays it out, atlas.harness.commands prints it and
writes the files.

Every instance the run selected is in the denominator but infrastructure failures: an
unfinished or ungraded instance counts as unresolved, and the report says how many there
are. An instance that ended in an infrastructure status (image missing, environment,
model server) or that the harness could not grade is not a score: it is left out of the
resolved rate and its intervals, and counted apart ("infra" column, status breakdown).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console

from atlas.errors import BadInput
from atlas.harness import stats
from atlas.harness.evaluate import INFRA_OUTCOMES, RESULTS_FILE
from atlas.harness.methodology import Item, published_card, run_card
from atlas.harness.table import dollars, number, repo_of
from atlas.records import Status
from atlas.repeats import repeat_label, repeats_of
from atlas.rundir import RunDir

REPORT_JSON, REPORT_HTML, METHODOLOGY_MD = "report.json", "report.html", "methodology.md"
# lists of a published results.json that name a failure, most specific first (older files have more)
PUBLISHED_FAILURES = ("no_generation", "no_apply", "install_fail", "reset_failed", "test_errored", "test_timeout",
                      "no_logs")
INFRA_STATUSES = {s.value for s in Status if s.is_infra_error}
DIFFICULTY_ORDER = ("<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours")


class ReportError(BadInput):
    """A path that cannot be reported on; the message says what to pass instead."""


@dataclass
class InstanceRow:
    """One instance of one side; None marks what a published result does not say."""

    instance_id: str
    repo: str
    difficulty: str
    status: str  # the final status, "unfinished", or "unknown" (published)
    reason: str  # how the instance ended, in words (the scaffold's message or the error); "" if none
    outcome: str  # the grading outcome, "unfinished", "not graded", or a published list's name
    resolved: bool
    steps: int | None = None
    attempts: int | None = None
    prompt_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    wall_seconds: float | None = None
    model_seconds: float | None = None

    @property
    def infra(self) -> bool:
        """An infrastructure failure: not a score, kept out of every rate."""
        return self.status in INFRA_STATUSES or self.outcome in INFRA_OUTCOMES


@dataclass
class Side:
    """A run directory, or a published result, ready to report or compare."""

    label: str
    path: Path
    kind: str  # "run" | "published"
    rows: dict[str, InstanceRow]  # a published side has rows only once a universe is adopted
    card: list[Item]
    manifest: dict = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)  # published: every listed id -> its outcome
    complete: bool = False  # published: it lists every instance it ran (a leaderboard entry's per-instance details)
    warnings: list[str] = field(default_factory=list)
    folder: Path | None = None  # where the run's instances/ live (a repeat's own folder); None: published
    repeat: int | None = None  # which repeat of a run with run.repeats > 1


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


# ---------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON ({e}); restore it or re-run the command that writes it") from None


def is_run_dir(path: Path) -> bool:
    return (path / "manifest.json").is_file()


def published_results_file(path: Path) -> Path | None:
    """results/results.json or results.json holding a `resolved` list (the SWE-bench experiments format)."""
    for candidate in (path / "results" / "results.json", path / "results.json"):
        if candidate.is_file():
            data = _read_json(candidate)
            if isinstance(data, dict) and isinstance(data.get("resolved"), list):
                return candidate
    return None


def _run_row(instance_id: str, meta: dict, result: Any, verdict: dict | None) -> InstanceRow:
    row = InstanceRow(instance_id, meta.get("repo") or repo_of(instance_id), meta.get("difficulty") or "",
                      status="unfinished" if result is None else result.status.value,
                      reason="" if result is None else (result.error.strip().splitlines() or [""])[0][:200],
                      outcome="unfinished" if result is None else "not graded", resolved=False)
    if verdict is not None:
        row.outcome, row.resolved = verdict["outcome"], bool(verdict["resolved"])
    if result is not None:
        usage = result.usage
        row.steps, row.attempts, row.cost_usd = result.steps, result.attempts, result.cost_usd
        row.prompt_tokens, row.cached_prompt_tokens = usage.prompt_tokens, usage.cached_prompt_tokens
        row.completion_tokens = usage.completion_tokens
        row.wall_seconds, row.model_seconds = result.wall_seconds, result.model_seconds
    return row


def _run_warnings(path: Path, manifest: dict, rows: dict[str, InstanceRow]) -> list[str]:
    warnings = []
    unfinished = sum(r.status == "unfinished" for r in rows.values())
    ungraded = sum(r.outcome == "not graded" for r in rows.values())
    infra = sum(r.infra for r in rows.values())
    if unfinished:
        warnings.append(f"{unfinished} of {len(rows)} instance(s) unfinished (counted as unresolved); "
                        "re-run the same `atlas run` command to resume")
    if ungraded:
        warnings.append(f"{ungraded} finished instance(s) have no verdict in results.json (counted as "
                        f"unresolved); run `atlas evaluate {path}`")
    if infra:
        warnings.append(f"{infra} instance(s) ended in an infrastructure failure (not scored: left out of the "
                        "resolved rate); `run.rerun_errors=true` re-runs them, `atlas evaluate` re-grades")
    if manifest.get("totals", {}).get("usage", {}).get("estimated"):
        warnings.append("token counts are estimates (about 4 characters a token), not counts from a server")
    if manifest.get("config_changes"):
        warnings.append("the run was resumed with changed settings (see methodology): its numbers mix settings")
    return warnings


def load_run(path: Path) -> Side:
    """A graded run directory (the first repeat of a run with repeats; `load_runs` gives them all)."""
    return load_runs(path)[0]


def load_runs(path: Path) -> list[Side]:
    """A graded run directory: one side per repeat, every selected instance with its status and verdict."""
    manifest = _read_json(path / "manifest.json")
    selected = manifest.get("dataset", {}).get("instance_ids")
    if not isinstance(selected, list):
        raise ReportError(f"{path}/manifest.json has no dataset.instance_ids; it was not written by `atlas run`")
    repeats = repeats_of(manifest)
    if repeats == 1:
        return [_load_member(path, path, manifest, selected, path.name, None)]
    return [_load_member(path, path / "repeats" / repeat_label(r), manifest, selected,
                         f"{path.name}/{repeat_label(r)}", r) for r in range(1, repeats + 1)]


def _load_member(path: Path, folder: Path, manifest: dict, selected: list[str], label: str,
                 repeat: int | None) -> Side:
    if not (folder / RESULTS_FILE).is_file():
        raise ReportError(f"{folder} is not graded (no {RESULTS_FILE}); run `atlas evaluate {path}` first")
    graded = _read_json(folder / RESULTS_FILE)
    verdicts = graded.get("instances", {})
    meta = manifest["dataset"].get("instances") or {}
    results = RunDir(folder).results(selected)
    rows = {i: _run_row(i, meta.get(i, {}), results.get(i), verdicts.get(i)) for i in selected}
    card = run_card(manifest, graded.get("harness"), [r.attempts for r in results.values()])
    return Side(label, path.resolve(), "run", rows, card, manifest=manifest,
                warnings=_run_warnings(path, manifest, rows), folder=folder.resolve(), repeat=repeat)


def load_published(path: Path) -> Side:
    """A published result (SWE-bench experiments format); it has no rows until `adopt_universe`."""
    results_file = published_results_file(path)
    if results_file is None:
        raise ReportError(f"{path} holds no results/results.json or results.json with a 'resolved' list")
    data = _read_json(results_file)
    listed: dict[str, str] = {}
    for key in reversed(PUBLISHED_FAILURES):  # the most specific failure list wins
        listed.update({i: key for i in data.get(key) or [] if isinstance(i, str)})
    for key, ids in data.items():  # progress lists of older files (generated, applied, ...)
        if isinstance(ids, list) and key != "resolved":
            listed.update({i: "unresolved" for i in ids if isinstance(i, str) and i not in listed})
    listed.update({i: "resolved" for i in data["resolved"]})
    metadata_file = path / "metadata.yaml"
    metadata = (yaml.safe_load(metadata_file.read_text()) or {}) if metadata_file.is_file() else {}
    name = metadata.get("name") or (metadata.get("info") or {}).get("name") or path.name
    return Side(str(name), path.resolve(), "published", {}, published_card(metadata, str(results_file)),
                published=listed)


def adopt_universe(side: Side, universe: list[str]) -> Side:
    """A published side's rows over the other sides' instances: resolved if its `resolved` list names it."""
    rows = {}
    for instance_id in universe:
        outcome = side.published.get(instance_id, "not listed")
        rows[instance_id] = InstanceRow(instance_id, repo_of(instance_id), "", "unknown", "", outcome,
                                        resolved=outcome == "resolved")
    unlisted = sum(r.outcome == "not listed" for r in rows.values())
    note = (f"a published result: its universe is the {len(universe)} instance(s) of the other side(s); "
            f"{unlisted} of them appear nowhere in its results and count as unresolved (it may never have "
            "attempted them)")
    return replace(side, rows=rows, warnings=[note])


def sweep_members(path: Path) -> list[Path]:
    """The run directories below `path` (at any depth: an override value may hold a '/'), sorted."""
    members = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        members += [child] if is_run_dir(child) else sweep_members(child)
    return members


def load_path(path: Path) -> tuple[str, list[Side]]:
    """('run' | 'sweep' | 'published', sides) for a run dir, a sweep dir or a published result dir."""
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory; pass a run dir, a sweep dir or a published results dir")
    if is_run_dir(path):
        return "run", load_runs(path)
    if published_results_file(path) is not None:
        return "published", [load_published(path)]
    members = sweep_members(path)
    if members:
        return "sweep", [replace(side, label=str(p.relative_to(path)) + (f"/{repeat_label(side.repeat)}" if side.repeat else ""))
                         for p in members for side in load_runs(p)]
    raise ReportError(f"{path} is not a run directory (no manifest.json); pass a run dir, a sweep dir "
                      "(subfolders with manifest.json) or a published results dir (results/results.json)")


def unique_labels(sides: list[Side]) -> list[Side]:
    """Sides whose labels clash get `parent/name` labels, so every row of a table is told apart."""
    labels = [s.label for s in sides]
    return [replace(s, label=f"{s.path.parent.name}/{s.path.name}") if labels.count(s.label) > 1 else s
            for s in sides]


# ---------------------------------------------------------------- computing


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


# ---------------------------------------------------------------- presenting


def make_console() -> Console:
    """The terminal's width; at least 160 columns when output is piped, so tables are not wrapped into a file."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 160))


def gpu_hours_text(totals: Totals) -> str:
    """GPU hours, "n/a" for a model on no local GPU, "unknown" where not recorded."""
    if totals.gpu_hours is None:
        return "n/a" if totals.gpu_hours_basis.startswith("not applicable") else "unknown"
    return number(totals.gpu_hours, 3)


def per_resolved(report: RunReport, value: float | None, money: bool) -> str:
    """A per-resolved-issue figure; "none resolved" where the denominator is 0."""
    if report.overall.resolved == 0:
        return "none resolved"
    return dollars(value) if money else number(value)


def bootstrap_caption(reports: list[RunReport]) -> str | None:
    """A note when a bootstrap interval collapses to a point (a rate of 0% or 100%): Wilson is the one to read."""
    if any(r.overall.bootstrap and r.overall.bootstrap[0] == r.overall.bootstrap[1] for r in reports):
        return "a bootstrap interval collapses to a point at 0% or 100% resolved; read the Wilson interval there"
    return None


def totals_rows(report: RunReport) -> list[tuple[str, str]]:
    t = report.totals
    estimated = " (estimated)" if t.tokens_estimated else ""
    return [
        ("prompt tokens" + estimated, number(t.prompt_tokens)),
        ("cached prompt tokens", number(t.cached_prompt_tokens)),
        ("completion tokens" + estimated, number(t.completion_tokens)),
        ("instance-hours (sum of per-instance wall clock)", number(t.instance_hours, 3)),
        ("elapsed hours (sessions, start to finish)", number(t.elapsed_hours, 3)),
        ("GPU hours", gpu_hours_text(t)),
        ("GPU hours counted from", t.gpu_hours_basis),
        ("cost", dollars(t.cost_usd)),
        ("cost counted from", t.cost_basis),
        ("cost per resolved issue", per_resolved(report, t.cost_per_resolved, True)),
        ("tokens per resolved issue", per_resolved(report, t.tokens_per_resolved, False)),
        ("patch-apply failures", str(report.patch_apply_failures)),
        ("bootstrap", f"{report.bootstrap['resamples']:,} resamples over instances, seed {report.bootstrap['seed']}"),
    ]


def print_warnings(console: Console, warnings: list[str], style: str = "yellow") -> None:
    for warning in warnings:
        console.print(f"[{style}]warning:[/] {warning}", highlight=False, soft_wrap=True)


def report_json(report: RunReport, card: list[Item]) -> str:
    return json.dumps({"report": asdict(report), "methodology": [asdict(i) for i in card]}, indent=2) + "\n"
