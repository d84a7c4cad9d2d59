"""`atlas compare`: two or more results on the instances they share, with a paired test.

Sides are run directories, sweep directories (each member is a side) or published
SWE-bench results (experiments-repo format). Runs are compared on the intersection
of their instance sets; a published side takes that intersection as its universe.
Each pair gets the exact McNemar test on its discordant instances and a paired
bootstrap interval of the rate difference. Anything that makes the numbers not
comparable (instance sets, dataset, split, harness, scaffold, limits, attempts) is
printed first and loudly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from atlas.rundir import atomic_write_text
from atlas.harness import stats
from atlas.harness.methodology import Item, differences
from atlas.harness.report import (
    ReportError,
    RunReport,
    Side,
    adopt_universe,
    build_report,
    interval,
    load_path,
    print_warnings,
    summary_table,
    unique_labels,
)

SHOWN_IDS = 5  # instance ids named in a warning before "..."


@dataclass
class Pair:
    """Two sides on the shared instances: the 2x2 table, the test, the difference."""

    first: str
    second: str
    both: int
    neither: int
    only_first: list[str]
    only_second: list[str]
    difference: float  # rate(first) - rate(second)
    difference_ci: tuple[float, float]  # paired bootstrap over the shared instances
    p_value: float  # exact McNemar, two-sided


@dataclass
class Comparison:
    title: str
    shared: list[str]
    reports: list[RunReport]  # each side restricted to the shared instances
    pairs: list[Pair]
    warnings: list[str]  # reasons the numbers are not comparable
    unknowns: list[str]  # comparability items some side did not record
    notes: list[str]  # how the universe was chosen, and each side's own warnings
    cards: dict[str, list[Item]]


def _ids(ids: set[str]) -> str:
    shown = sorted(ids)[:SHOWN_IDS]
    return ", ".join(shown) + (", ..." if len(ids) > SHOWN_IDS else "")


def instance_set_warning(runs: list[Side], shared: set[str]) -> list[str]:
    """One line when the runs selected different instances, naming what each has beyond the shared ones."""
    if all(len(s.rows) == len(shared) for s in runs):
        return []
    extra = "; ".join(f"{s.label} has {len(s.rows)} ({len(s.rows) - len(shared)} not shared: "
                      f"{_ids(set(s.rows) - shared)})" for s in runs if len(s.rows) > len(shared))
    return [f"different instance sets: compared only on the {len(shared)} shared instance(s); {extra}"]


def pair(first: Side, second: Side, shared: list[str], seed: int, resamples: int) -> Pair:
    # an infrastructure failure on either side is no score: the pair is compared without that instance
    shared = [i for i in shared if not first.rows[i].infra and not second.rows[i].infra] or shared
    a = {i: first.rows[i].resolved for i in shared}
    b = {i: second.rows[i].resolved for i in shared}
    only_first = [i for i in shared if a[i] and not b[i]]
    only_second = [i for i in shared if b[i] and not a[i]]
    both = sum(a[i] and b[i] for i in shared)
    return Pair(
        first.label, second.label, both, len(shared) - both - len(only_first) - len(only_second),
        only_first, only_second, (sum(a.values()) - sum(b.values())) / len(shared),
        stats.bootstrap_mean_interval([float(a[i]) - float(b[i]) for i in shared], seed=seed, resamples=resamples),
        stats.mcnemar_exact(len(only_first), len(only_second)),
    )


def load_sides(paths: list[Path]) -> list[Side]:
    sides = [side for path in paths for side in load_path(path)[1]]
    if len(sides) < 2:
        raise ReportError("compare needs at least two sides: pass two or more run dirs, a sweep dir, "
                          "or a run dir and a published results dir")
    if not any(s.kind == "run" for s in sides):
        raise ReportError("compare needs at least one run directory: a published result has no instance "
                          "universe of its own")
    return unique_labels(sides)


def compare(paths: list[Path], seed: int = stats.SEED, resamples: int = stats.RESAMPLES) -> Comparison:
    """Load every side, restrict to the shared instances, test each pair, collect the warnings."""
    sides = load_sides(paths)
    runs = [s for s in sides if s.kind == "run"]
    shared_set = set.intersection(*(set(s.rows) for s in runs))
    if not shared_set:
        raise ReportError("the runs share no instance: " + "; ".join(f"{s.label}: {_ids(set(s.rows))}" for s in runs))
    shared = sorted(shared_set)
    sides = [adopt_universe(s, shared) if s.kind == "published" else s for s in sides]
    cards = {s.label: s.card for s in sides}
    differing, unknowns = differences(cards)
    reports = [build_report(s, shared, seed, resamples) for s in sides]
    return Comparison(
        title="ATLAS compare: " + " vs ".join(s.label for s in sides), shared=shared, reports=reports,
        pairs=[pair(a, b, shared, seed, resamples) for a, b in combinations(sides, 2)],
        warnings=instance_set_warning(runs, shared_set) + differing, unknowns=unknowns,
        notes=[f"{r.label}: {w}" for r in reports for w in r.warnings], cards=cards,
    )


def pairs_table(comparison: Comparison) -> Table:
    table = Table(title="paired: exact McNemar test on the discordant instances", title_justify="left")
    for column in ("A", "B", "both", "only A", "only B", "neither", "A - B", "paired bootstrap 95% CI", "McNemar p"):
        table.add_column(column, justify="left" if column in ("A", "B") else "right")
    for p in comparison.pairs:
        table.add_row(p.first, p.second, str(p.both), str(len(p.only_first)), str(len(p.only_second)), str(p.neither),
                      f"{100 * p.difference:+.1f} pts", interval(p.difference_ci), f"{p.p_value:.4g}")
    return table


def print_comparison(comparison: Comparison, console: Console) -> None:
    c = comparison
    if c.warnings:
        console.print(Panel("\n".join(f"• {w}" for w in c.warnings), title="NOT COMPARABLE", style="bold red"))
    print_warnings(console, c.unknowns)
    for note in c.notes:
        console.print(f"[cyan]note:[/] {note}", highlight=False, soft_wrap=True)
    console.print(summary_table(c.reports, f"side by side on the {len(c.shared)} shared instance(s)"))
    console.print(pairs_table(c))
    for p in c.pairs:
        for winner, ids in ((p.first, p.only_first), (p.second, p.only_second)):
            console.print(f"resolved only by {winner} (vs {p.second if winner == p.first else p.first}): "
                          f"{len(ids)}" + (f": {', '.join(ids)}" if ids else ""), highlight=False, soft_wrap=True)


def comparison_json(comparison: Comparison) -> str:
    return json.dumps(asdict(comparison), indent=2) + "\n"


def run_compare(paths: list[Path], console: Console, html: Path | None, json_path: Path | None,
                         seed: int, resamples: int) -> Comparison:
    """`atlas compare`: print the comparison, and write --html / --json when asked."""
    comparison = compare(paths, seed, resamples)
    print_comparison(comparison, console)
    if html is not None:
        from atlas.harness.html import compare_page

        atomic_write_text(html.resolve(), compare_page(comparison))
        console.print(f"wrote {html}", highlight=False)
    if json_path is not None:
        atomic_write_text(json_path.resolve(), comparison_json(comparison))
        console.print(f"wrote {json_path}", highlight=False)
    return comparison
