"""`atlas compare`: two or more results on the instances they share, with a paired test.

Sides are run directories, sweep directories (each member is a side) or published
SWE-bench results: the experiments-repo format, or `--published SOURCE:ENTRY` (a
leaderboard entry's per-instance results, or an experiments folder; harness/published.py).
Runs are compared on the intersection of their instance sets; a published side takes
that intersection as its universe, cut to the instances it lists when it lists every
instance it ran (a leaderboard entry). A run paired with a published side also gets a
comparability verdict, fact by fact.
Each pair gets the exact McNemar test on its discordant instances and a paired
bootstrap interval of the rate difference. Anything that makes the numbers not
comparable (instance sets, dataset, split, harness, scaffold, limits, attempts) is
printed first and loudly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from atlas.harness import budget, stats
from atlas.harness.methodology import Item, differences
from atlas.harness.published import Check, published_side, verdict
from atlas.harness.report_load import ReportError, Side, adopt_universe, load_path, unique_labels
from atlas.harness.report import RunReport, build_report
from atlas.harness.report_render import print_warnings
from atlas.harness.table import to_rich
from atlas.harness.tables import budget_table, pairs_table, status_table, summary_table

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
    sides: list[Side]  # restricted to the shared instances (published ones adopted)
    arms: list[dict]  # each side's attempts, budget caps and spend per instance (atlas.harness.budget)
    budget_matches: list[str | None]  # per pair: how the two arms' budgets match, or None
    verdicts: list[Verdict] = field(default_factory=list)  # one per (run, published side)


@dataclass
class Verdict:
    run: str
    published: str
    overall: str  # comparable | not comparable | comparable as far as recorded
    checks: list[Check]


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


def load_sides(paths: list[Path], published: list[str] = ()) -> list[Side]:
    sides = [side for path in paths for side in load_path(path)[1]] + [published_side(spec) for spec in published]
    if len(sides) < 2:
        raise ReportError("compare needs at least two sides: pass two or more run dirs, a sweep dir, "
                          "or a run dir and a published results dir")
    if not any(s.kind == "run" for s in sides):
        raise ReportError("compare needs at least one run directory: a published result has no instance "
                          "universe of its own")
    return unique_labels(sides)


def complete_side_notes(runs: list[Side], complete: list[Side], shared: set[str]) -> list[str]:
    """What pairing with a side that lists every instance it ran left out of the runs."""
    notes = []
    for side in complete:
        missing = set.intersection(*(set(r.rows) for r in runs)) - set(side.published)
        if missing:
            notes.append(f"{side.label}: paired on the {len(shared)} instance(s) both have; {len(missing)} of the "
                         f"run(s)' instance(s) are not in its results and are left out: {_ids(missing)}")
    return notes


def compare(paths: list[Path], seed: int = stats.SEED, resamples: int = stats.RESAMPLES,
            published: list[str] = ()) -> Comparison:
    """Load every side, restrict to the shared instances, test each pair, collect the warnings."""
    sides = load_sides(paths, published)
    runs = [s for s in sides if s.kind == "run"]
    complete = [s for s in sides if s.kind == "published" and s.complete]
    shared_set = set.intersection(*(set(s.rows) for s in runs), *(set(s.published) for s in complete))
    if not shared_set:
        raise ReportError("the sides share no instance: " + "; ".join(
            f"{s.label}: {_ids(set(s.rows) or set(s.published))}" for s in runs + complete))
    shared = sorted(shared_set)
    sides = [adopt_universe(s, shared) if s.kind == "published" else s for s in sides]
    cards = {s.label: s.card for s in sides}
    differing, unknowns = differences(cards)
    reports = [build_report(s, shared, seed, resamples) for s in sides]
    arms = [budget.arm(s, r, shared) for s, r in zip(sides, reports)]
    by_label = {a["label"]: a for a in arms}
    pairs = [pair(a, b, shared, seed, resamples) for a, b in combinations(sides, 2)]
    verdicts = [Verdict(r.label, p.label, *verdict(r, p)) for r in runs for p in sides if p.kind == "published"]
    return Comparison(
        title="ATLAS compare: " + " vs ".join(s.label for s in sides), shared=shared, reports=reports,
        pairs=pairs,
        warnings=instance_set_warning(runs, shared_set) + differing, unknowns=unknowns,
        notes=complete_side_notes(runs, complete, shared_set)
        + [f"{r.label}: {w}" for r in reports for w in r.warnings
           if not (r.label in {c.label for c in complete} and "universe" in w)],
        cards=cards, sides=sides, arms=arms,
        budget_matches=[budget.match(by_label[p.first], by_label[p.second]) for p in pairs], verdicts=verdicts,
    )


VERDICT_STYLES = {"comparable": "green", "comparable as far as recorded": "yellow", "not comparable": "bold red"}
CHECK_MARKS = {"same": "[green]same[/]", "differs": "[bold red]DIFFERS[/]", "unknown": "[yellow]unknown[/]"}


def print_verdicts(comparison: Comparison, console: Console) -> None:
    for v in comparison.verdicts:
        lines = [f"{CHECK_MARKS[c.state]}  {c.words}" for c in v.checks]
        console.print(Panel("\n".join(lines), title=f"comparability verdict: {v.run} vs {v.published}: "
                            f"{v.overall.upper()}", style=VERDICT_STYLES[v.overall], title_align="left"))


def print_comparison(comparison: Comparison, console: Console) -> None:
    c = comparison
    if c.warnings:
        console.print(Panel("\n".join(f"• {w}" for w in c.warnings), title="NOT COMPARABLE", style="bold red"))
    print_warnings(console, c.unknowns)
    for note in c.notes:
        console.print(f"[cyan]note:[/] {note}", highlight=False, soft_wrap=True)
    print_verdicts(c, console)
    console.print(to_rich(summary_table(c.reports, f"side by side on the {len(c.shared)} shared instance(s)")))
    console.print(to_rich(status_table(c.reports)))
    console.print(to_rich(pairs_table(c.pairs)))
    if budget.is_budgeted(c.arms):
        console.print(to_rich(budget_table(c.arms)))
        console.print(to_rich(budget.matched_table(c.pairs, c.budget_matches)))
    for p in c.pairs:
        for winner, ids in ((p.first, p.only_first), (p.second, p.only_second)):
            console.print(f"resolved only by {winner} (vs {p.second if winner == p.first else p.first}): "
                          f"{len(ids)}" + (f": {', '.join(ids)}" if ids else ""), highlight=False, soft_wrap=True)


def comparison_json(comparison: Comparison) -> str:
    data = asdict(comparison)
    data.pop("sides")  # every row is in the reports and pairs already
    return json.dumps(data, indent=2, default=str) + "\n"
