"""`atlas report` and `atlas compare`: print the tables and write the files.

The top of atlas.harness: it loads and computes through report / compare / repeats, lays
out with tables, and renders pages with html and viewer, none of which imports it back.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from rich.console import Console

from atlas.harness import budget, stats
from atlas.harness.compare import Comparison, compare, comparison_json, print_comparison
from atlas.harness.html import compare_page, report_page
from atlas.harness.methodology import card_markdown, differences
from atlas.harness.repeats import RepeatsReport, analyze
from atlas.harness.report_load import ReportError, Side, load_path
from atlas.harness.report import RunReport, build_report
from atlas.harness.report_render import REPORT_HTML, REPORT_JSON, METHODOLOGY_MD, print_warnings, report_json
from atlas.harness.table import TableData, to_rich
from atlas.harness.tables import (
    breakdown_table,
    budget_table,
    frequency_table,
    instances_table,
    repeats_table,
    summary_table,
    totals_table,
)
from atlas.harness.viewer import VIEWER_DIR, gold_patches, hrefs, write_viewers
from atlas.rundir import atomic_write_text


def _instances(sides: list[Side], page: Path, folder_of: Callable[[int, Side], Path], ids: list[str],
               successes: dict[str, int] | None = None) -> TableData:
    """The per-instance table of `page`, with a trajectory page per instance of every run side in `folder_of(i, side)`."""
    links, golds = {}, {}
    for index, side in enumerate(sides):
        if side.kind != "run":
            continue
        key = json.dumps(side.manifest.get("config", {}).get("dataset"), sort_keys=True)
        if key not in golds:
            golds[key] = gold_patches(side.manifest)
        links[side.label] = hrefs(write_viewers(side, folder_of(index, side), page, golds[key]), page)
    return instances_table(sides, ids, links, successes)


def _own_viewer(index: int, side: Side) -> Path:
    """A run's trajectory pages live in its own folder (a repeat's in its repeats/r<N>/)."""
    return side.folder / VIEWER_DIR


def write_run_files(side: Side, report: RunReport, page: Path, extra: list[TableData] = (),
                    instances: TableData | None = None) -> None:
    """report.json, methodology.md and report.html of one run."""
    atomic_write_text(page.parent / REPORT_JSON, report_json(report, side.card))
    atomic_write_text(page.parent / METHODOLOGY_MD, card_markdown(side.label, side.card))
    atomic_write_text(page, report_page(f"ATLAS report: {side.label}", [report], {side.label: side.card},
                                        repeats=extra, instances=instances))


def report_run(side: Side, console: Console, seed: int, resamples: int) -> RunReport:
    report = build_report(side, seed=seed, resamples=resamples)
    page = side.path / REPORT_HTML
    instances = _instances([side], page, _own_viewer, sorted(side.rows))
    write_run_files(side, report, page, instances=instances)
    console.print(to_rich(summary_table([report], f"{side.path}")))
    console.print(to_rich(breakdown_table(report)))
    console.print(to_rich(totals_table(report)))
    print_warnings(console, report.warnings)
    console.print(f"wrote {side.path / REPORT_JSON}, {METHODOLOGY_MD}, {REPORT_HTML} and a trajectory page per "
                  f"instance in {VIEWER_DIR}/", highlight=False)
    return report


def report_repeats(path: Path, sides: list[Side], console: Console, seed: int, resamples: int) -> RepeatsReport:
    """A run with run.repeats=k: each repeat's row, then pass@k / pass^k, noise and detectable difference."""
    reports = [build_report(s, seed=seed, resamples=resamples) for s in sides]
    repeats = analyze(path.name, sides, seed, resamples)
    page = path / REPORT_HTML
    instances = _instances(sides, page, _own_viewer, sorted(sides[0].rows), repeats.successes)
    tables = [repeats_table(repeats), frequency_table(repeats)]
    console.print(to_rich(summary_table(reports, f"{path}: one row per repeat")))
    for data in tables:
        console.print(to_rich(data))
    warnings = sorted({w for r in reports for w in r.warnings})  # the repeats share the run's warnings
    for report in reports:
        report.warnings = warnings
    print_warnings(console, warnings)
    record = {"run": str(path.resolve()), "repeats": asdict(repeats), "members": [asdict(r) for r in reports],
              "methodology": [asdict(i) for i in sides[0].card]}
    atomic_write_text(path / REPORT_JSON, json.dumps(record, indent=2) + "\n")
    atomic_write_text(path / METHODOLOGY_MD, card_markdown(path.name, sides[0].card))
    atomic_write_text(page, report_page(f"ATLAS report: {path.name} ({len(sides)} repeats)", reports,
                                        {path.name: sides[0].card}, repeats=tables, instances=instances))
    console.print(f"wrote {path / REPORT_JSON}, {METHODOLOGY_MD}, {REPORT_HTML} and trajectory pages", highlight=False)
    return repeats


def report_sweep(path: Path, sides: list[Side], console: Console, seed: int, resamples: int) -> list[RunReport]:
    """Each member's own files, then one table, report.json and report.html over the members."""
    reports = []
    for side in sides:
        reports.append(build_report(side, seed=seed, resamples=resamples))
        if side.repeat is None:
            write_run_files(side, reports[-1], side.path / REPORT_HTML)
    cards = {s.label: s.card for s in sides}
    differing, _ = differences(cards)
    console.print(to_rich(summary_table(reports, f"sweep {path}")))
    for report in reports:
        print_warnings(console, [f"{report.label}: {w}" for w in report.warnings])
    print_warnings(console, [f"members not comparable: {d}" for d in differing], style="bold red")
    record = {"sweep": str(path.resolve()), "members": [asdict(r) for r in reports],
              "not_comparable": differing, "methodology": {k: [asdict(i) for i in v] for k, v in cards.items()}}
    atomic_write_text(path / REPORT_JSON, json.dumps(record, indent=2) + "\n")
    atomic_write_text(path / REPORT_HTML, report_page(f"ATLAS sweep: {path.name}", reports, cards, warnings=differing))
    console.print(f"wrote {path / REPORT_JSON}, {REPORT_HTML} (and each member's own)", highlight=False)
    return reports


def report_path(path: Path, console: Console, seed: int = stats.SEED, resamples: int = stats.RESAMPLES):
    """`atlas report PATH`: a run directory (with or without repeats) or a sweep directory."""
    kind, sides = load_path(path)
    if kind == "published":
        raise ReportError(f"{path} is a published result: it has no instance universe of its own; "
                          f"use `atlas compare <run dir> {path}`")
    if kind == "sweep":
        return report_sweep(path, sides, console, seed, resamples)
    if len(sides) > 1:
        return report_repeats(path, sides, console, seed, resamples)
    return [report_run(sides[0], console, seed, resamples)]


def run_compare(paths: list[Path], console: Console, html: Path | None, json_path: Path | None,
                seed: int, resamples: int, published: list[str] = ()) -> Comparison:
    """`atlas compare`: print the comparison, and write --html (with trajectory pages beside it) / --json."""
    comparison = compare(paths, seed, resamples, published)
    print_comparison(comparison, console)
    if html is not None:
        page = html.resolve()
        viewers = page.parent / f"{page.stem}.viewer"
        instances = _instances(comparison.sides, page, lambda index, side: viewers / str(index + 1), comparison.shared)
        budgeted = budget.is_budgeted(comparison.arms)
        atomic_write_text(page, compare_page(
            comparison, instances,
            budget_table(comparison.arms) if budgeted else None,
            budget.matched_table(comparison.pairs, comparison.budget_matches) if budgeted else None))
        console.print(f"wrote {html} and trajectory pages in {viewers}", highlight=False)
    if json_path is not None:
        atomic_write_text(json_path.resolve(), comparison_json(comparison))
        console.print(f"wrote {json_path}", highlight=False)
    return comparison
