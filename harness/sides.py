"""Loading what `atlas report` and `atlas compare` read: run directories, sweeps and published results, as `Side`s.

A `Side` is one result to report or compare: one row per instance (a run with repeats gives
one side per repeat) with its status, grading outcome, usage and cost, and the methodology card
(atlas.harness.methodology). A published SWE-bench result has no rows of its own until it adopts
the instance universe of the runs it is paired with (`adopt_universe`). atlas.harness.report
computes rates from sides; nothing here computes.

An instance that ended in an infrastructure status (image missing, environment, model server)
or that the harness could not grade is marked `infra`: not a score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from atlas.errors import BadInput
from atlas.harness.evaluate import INFRA_OUTCOMES, RESULTS_FILE
from atlas.harness.methodology import Item, published_card, run_card
from atlas.harness.table import repo_of
from atlas.records import Status
from atlas.repeats import repeat_label, repeats_of
from atlas.rundir import RunDir

# lists of a published results.json that name a failure, most specific first (older files have more)
PUBLISHED_FAILURES = ("no_generation", "no_apply", "install_fail", "reset_failed", "test_errored", "test_timeout",
                      "no_logs")
INFRA_STATUSES = {s.value for s in Status if s.is_infra_error}


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
    grading_seconds: float | None = None  # graded as the run went: the harness's time on it

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
        row.grading_seconds = verdict.get("grading_seconds")
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
                        f"unresolved); a running `atlas run` grades them as they finish, else run "
                        f"`atlas evaluate {path}`")
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
