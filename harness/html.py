"""Self-contained HTML for reports, comparisons and trajectories: inline CSS, plots as base64 PNG.

Pages are jinja2 templates (atlas/harness/templates, shipped as package data) with
autoescape on, so every text that reaches a page is escaped by jinja2; tables are the
TableData of atlas.harness.tables drawn by the one `table` macro. Plots are drawn with
matplotlib's Agg canvas on standalone Figures (no pyplot, no display, no global state):
resolved rate with Wilson 95% error bars, cost against resolved rate, per-repository
bars, and the distributions of steps and tokens per instance. A page loads nothing.
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import jinja2

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from atlas import __version__
from atlas.harness.methodology import Item
from atlas.harness.report import Rate, RunReport
from atlas.harness.table import Link, Styled, TableData
from atlas.harness.tables import (
    breakdown_table,
    card_tables,
    discordant_table,
    pairs_table,
    status_table,
    summary_table,
    totals_table,
)

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


# ---------------------------------------------------------------- plots


def _figure(height: float, width: float = 9.0) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png(figure: Figure) -> str:
    """The figure as a base64 PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"


def _errors(rates: list[Rate]) -> list[list[float]]:
    """Error-bar lengths below and above each rate (clipped at 0 against rounding in the bounds)."""
    return [[max(0.0, 100 * (r.rate - r.wilson[0])) for r in rates], [max(0.0, 100 * (r.wilson[1] - r.rate)) for r in rates]]


def rate_figure(rates: list[Rate], title: str) -> Figure:
    """Horizontal bars of resolved rate (%) with Wilson 95% error bars, labelled k/n."""
    rates = [r for r in rates if r.rate is not None]
    figure = _figure(1.2 + 0.42 * len(rates))
    ax = figure.add_subplot()
    rows = range(len(rates))
    ax.barh(rows, [100 * r.rate for r in rates], xerr=_errors(rates), capsize=4, ecolor="#333",
            color=[COLORS[i % len(COLORS)] for i in rows])
    for row, rate in zip(rows, rates):
        ax.text(101, row, f"{rate.resolved}/{rate.n}", va="center", fontsize=9)
    ax.set_yticks(list(rows), [r.group for r in rates])
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel("resolved (%), bars: Wilson 95% CI")
    ax.set_title(title, loc="left")
    return figure


def cost_figure(reports: list[RunReport]) -> Figure:
    """Resolved rate (%, Wilson 95% CI) against dollars spent; sides with unknown cost or no scored
    instance (every one an infrastructure failure: no rate) are left out and named."""
    figure = _figure(3.6)
    ax = figure.add_subplot()
    for index, report in enumerate(reports):
        if report.totals.cost_usd is None or report.overall.rate is None:
            continue
        ax.errorbar([report.totals.cost_usd], [100 * (report.overall.rate or 0)], yerr=_errors([report.overall]),
                    fmt="o", capsize=5, markersize=8, color=COLORS[index % len(COLORS)], label=report.label)
        ax.annotate(report.label, (report.totals.cost_usd, 100 * (report.overall.rate or 0)),
                    textcoords="offset points", xytext=(8, 6), fontsize=9)
    ax.set_ylim(-5, 112)
    ax.set_xlabel("cost (USD) over these instances")
    ax.set_ylabel("resolved (%)")
    unknown = [r.label for r in reports if r.totals.cost_usd is None]
    unscored = [r.label for r in reports if r.overall.rate is None]
    ax.set_title("cost vs resolved rate" + (f" (cost unknown: {', '.join(unknown)})" if unknown else "")
                 + (f" (nothing scored: {', '.join(unscored)})" if unscored else ""), loc="left")
    ax.grid(alpha=0.3)
    return figure


def repo_figure(reports: list[RunReport]) -> Figure:
    """Grouped bars: resolved rate per repository, one bar per side, labelled k/n."""
    repos = sorted({rate.group for report in reports for rate in report.by_repo})
    figure = _figure(1.0 + 0.22 * len(repos) * len(reports) + 0.15 * len(repos))
    ax = figure.add_subplot()
    height = 0.8 / len(reports)
    for index, report in enumerate(reports):
        by_repo = {rate.group: rate for rate in report.by_repo}
        positions = [row + index * height for row in range(len(repos))]
        values = [100 * (by_repo[repo].rate or 0) if repo in by_repo else 0 for repo in repos]
        ax.barh(positions, values, height=height, color=COLORS[index % len(COLORS)], label=report.label)
        for position, repo in zip(positions, repos):
            if repo in by_repo:
                ax.text(101, position, f"{by_repo[repo].resolved}/{by_repo[repo].n}", va="center", fontsize=8)
    ax.set_yticks([row + 0.4 - height / 2 for row in range(len(repos))], repos)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel("resolved (%) per repository")
    ax.set_title("per repository", loc="left")
    if len(reports) > 1:
        figure.legend(loc="outside upper right", fontsize=8, ncols=min(4, len(reports)))
    return figure


def distribution_figure(reports: list[RunReport]) -> Figure | None:
    """Histograms (shared bins, bars side by side) of steps and of tokens (prompt + completion) per
    finished instance; None when no side has any."""
    measured = [r for r in reports if r.steps]
    if not measured:
        return None
    figure = _figure(3.2)
    steps_ax, tokens_ax = figure.subplots(1, 2)
    labels, colors = [r.label for r in measured], [COLORS[i % len(COLORS)] for i in range(len(measured))]
    width = 0.8 / len(measured)
    for index, report in enumerate(measured):
        counts = np.bincount(report.steps)
        offset = (index - (len(measured) - 1) / 2) * width
        steps_ax.bar(np.arange(counts.size) + offset, counts, width=width, color=colors[index], label=labels[index])
    steps_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    tokens = [t for r in measured for t in r.tokens]
    edges = np.histogram_bin_edges(tokens, bins=12)
    tokens_ax.hist([r.tokens for r in measured], bins=edges, color=colors, label=labels)
    steps_ax.set_xlabel("steps per instance")
    tokens_ax.set_xlabel("tokens per instance (prompt + completion)")
    for ax in (steps_ax, tokens_ax):
        ax.set_ylabel("instances")
        ax.legend(fontsize=8)
    return figure


def plots(reports: list[RunReport]) -> list[str]:
    """All plots of a page as data URIs. One report: its overall and per-repo/difficulty rates; several: one bar each."""
    if len(reports) == 1:
        report = reports[0]
        rates = [replace(report.overall, group=f"all ({report.label})"),
                 *[replace(r, group=f"repo: {r.group}") for r in report.by_repo],
                 *[replace(r, group=f"difficulty: {r.group}") for r in report.by_difficulty]]
    else:
        rates = [replace(r.overall, group=r.label) for r in reports]
    figures = [rate_figure(rates, "resolved rate"), cost_figure(reports), repo_figure(reports),
               distribution_figure(reports)]
    return [png(f) for f in figures if f is not None]


# ---------------------------------------------------------------- pages

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("atlas.harness", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.tests["link"] = lambda value: isinstance(value, Link)
ENVIRONMENT.tests["styled"] = lambda value: isinstance(value, Styled)


def render(template: str, title: str, **context: Any) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return ENVIRONMENT.get_template(template).render(title=title, stamp=stamp, version=__version__, **context)


def card_pages(cards: dict[str, list[Item]]) -> dict[str, list[TableData]]:
    return {label: card_tables(items) for label, items in cards.items()}


def side_tables(reports: list[RunReport]) -> dict[str, list[TableData]]:
    return {r.label: [breakdown_table(r), totals_table(r)] for r in reports}


def report_page(title: str, reports: list[RunReport], cards: dict[str, list[Item]], warnings: list[str] = (),
                repeats: list[TableData] = (), instances: TableData | None = None) -> str:
    """The page of `atlas report`: one run (its repeats, if any), or the members of a sweep."""
    notes = list(dict.fromkeys(f"{r.label}: {w}" if len(reports) > 1 and len({tuple(x.warnings) for x in reports}) > 1
                               else w for r in reports for w in r.warnings))
    return render("report.html.j2", title, alarms=list(warnings), notes=notes,
                  summary=summary_table(reports, ""), repeats=list(repeats), plots=plots(reports),
                  instances=instances, reports=reports, cards=card_pages(cards), tables=side_tables(reports))


def compare_page(comparison: Any, instances: TableData | None = None, budget: TableData | None = None,
                 matched: TableData | None = None) -> str:
    """The page of `atlas compare` (an atlas.harness.compare.Comparison): warnings first, the side-by-side
    table, the paired tests, the budget-matched test when an arm has a budget, plots, every instance."""
    c = comparison
    return render("compare.html.j2", c.title, c=c, summary=summary_table(c.reports, ""), pairs=pairs_table(c.pairs),
                  statuses=status_table(c.reports),
                  discordant=[discordant_table(p) for p in c.pairs],
                  budget=budget, matched=matched, plots=plots(c.reports), instances=instances,
                  cards=card_pages(c.cards), tables=side_tables(c.reports))


def trajectory_page(title: str, back: str, facts: TableData, steps: list[dict[str, Any]], patch: str,
                    gold: str | None, gold_missing: str, selection: dict[str, Any] | None) -> str:
    """One instance of one run: each step's thought, command and output; the final patch beside the gold one."""
    return render("trajectory.html.j2", title, back=back, facts=facts, steps=steps, patch=patch, gold=gold,
                  gold_missing=gold_missing, selection=selection)
