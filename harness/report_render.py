"""Presenting a computed report: the terminal console, the totals' rows in words, warnings and report.json."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.console import Console

from atlas.finish_line import hours_text
from atlas.harness.methodology import Item
from atlas.harness.report import RunReport, Totals
from atlas.harness.table import dollars, number

REPORT_JSON, REPORT_HTML, METHODOLOGY_MD = "report.json", "report.html", "methodology.md"


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
        *finish_line_rows(t),
        ("patch-apply failures", str(report.patch_apply_failures)),
        ("bootstrap", f"{report.bootstrap['resamples']:,} resamples over instances, seed {report.bootstrap['seed']}"),
    ]


def finish_line_rows(totals: Totals) -> list[tuple[str, str]]:
    """The finish line in words: an extrapolation from the instances measured, and said to be one."""
    line = totals.finish_line
    if line is None:
        return []
    dollars_500 = "dollars unknown" if line.verified_usd is None else dollars(line.verified_usd)
    return [
        ("projected time for the selection", f"{hours_text(line.selection_seconds)} (from {line.measured} measured "
                                             "instance(s), agents and grading overlapping)"),
        ("full SWE-bench Verified run (500)", f"{hours_text(line.verified_seconds)}, {dollars_500} "
                                              f"({line.usd_basis}; at this run's mean time per instance)"),
    ]


def print_warnings(console: Console, warnings: list[str], style: str = "yellow") -> None:
    for warning in warnings:
        console.print(f"[{style}]warning:[/] {warning}", highlight=False, soft_wrap=True)


def report_json(report: RunReport, card: list[Item]) -> str:
    return json.dumps({"report": asdict(report), "methodology": [asdict(i) for i in card]}, indent=2) + "\n"
