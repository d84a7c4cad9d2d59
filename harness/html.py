"""Self-contained HTML for reports and comparisons: one file, inline CSS, plots as base64 PNG.

Plots are drawn with matplotlib's Agg canvas on standalone Figures (no pyplot, no
display, no global state): resolved rate with Wilson 95% error bars, cost against
resolved rate, per-repository bars, and the distributions of steps and tokens per
instance. Every text that reaches the page is HTML-escaped; the page loads nothing.
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from atlas import __version__
from atlas.harness.methodology import NOT_RECORDED, Item
from atlas.harness.report import (
    Rate,
    RunReport,
    bootstrap_caption,
    dollars,
    gpu_hours_text,
    interval,
    number,
    per_resolved,
    percent,
    totals_rows,
)

if TYPE_CHECKING:
    from atlas.harness.compare import Comparison

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th:first-child, td:first-child, .pairs td:nth-child(2), .pairs th:nth-child(2) { text-align: left; }
th { background: #f3f4f6; } tr.section td { background: #fafafa; font-weight: 600; }
.card td, .card th { text-align: left; } .card td:first-child { white-space: nowrap; color: #444; }
.missing { color: #b42318; font-style: italic; }
.warn { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em 1em; margin: .4em 0; }
.alarm { background: #fdecea; border-left: 6px solid #b42318; padding: .6em 1em; margin: .6em 0; font-weight: 600; }
.note { background: #eef4fb; border-left: 4px solid #4C72B0; padding: .5em 1em; margin: .4em 0; }
img { max-width: 100%; display: block; margin: .5em 0 1em; }
.meta { color: #666; font-size: .9em; } code { font-size: .9em; word-break: break-all; }
"""


# ---------------------------------------------------------------- plots


def _figure(height: float, width: float = 9.0) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png(figure: Figure) -> str:
    """The figure as an <img> with a base64 PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


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
    """Resolved rate (%, Wilson 95% CI) against dollars spent; sides with unknown cost are left out and named."""
    figure = _figure(3.6)
    ax = figure.add_subplot()
    for index, report in enumerate(reports):
        if report.totals.cost_usd is None:
            continue
        ax.errorbar([report.totals.cost_usd], [100 * (report.overall.rate or 0)], yerr=_errors([report.overall]),
                    fmt="o", capsize=5, markersize=8, color=COLORS[index % len(COLORS)], label=report.label)
        ax.annotate(report.label, (report.totals.cost_usd, 100 * (report.overall.rate or 0)),
                    textcoords="offset points", xytext=(8, 6), fontsize=9)
    ax.set_ylim(-5, 112)
    ax.set_xlabel("cost (USD) over these instances")
    ax.set_ylabel("resolved (%)")
    unknown = [r.label for r in reports if r.totals.cost_usd is None]
    ax.set_title("cost vs resolved rate" + (f" (cost unknown: {', '.join(unknown)})" if unknown else ""), loc="left")
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


def plots(reports: list[RunReport]) -> str:
    """All plots of a page. One report: its overall and per-repo/difficulty rates; several: one bar each."""
    if len(reports) == 1:
        report = reports[0]
        rates = [replace(report.overall, group=f"all ({report.label})"),
                 *[replace(r, group=f"repo: {r.group}") for r in report.by_repo],
                 *[replace(r, group=f"difficulty: {r.group}") for r in report.by_difficulty]]
    else:
        rates = [replace(r.overall, group=r.label) for r in reports]
    figures = [rate_figure(rates, "resolved rate"), cost_figure(reports), repo_figure(reports),
               distribution_figure(reports)]
    return "\n".join(png(f) for f in figures if f is not None)


# ---------------------------------------------------------------- tables


def table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def summary_html(reports: list[RunReport]) -> str:
    header = ["run", "instances", "resolved", "rate", "Wilson 95% CI", "bootstrap 95% CI", "cost", "$/resolved",
              "tokens/resolved", "instance-h", "GPU-h"]
    rows = [[r.label, r.overall.n, r.overall.resolved, percent(r.overall.rate), interval(r.overall.wilson),
             interval(r.overall.bootstrap), dollars(r.totals.cost_usd), per_resolved(r, r.totals.cost_per_resolved, True),
             per_resolved(r, r.totals.tokens_per_resolved, False), number(r.totals.instance_hours, 3),
             gpu_hours_text(r.totals)] for r in reports]
    caption = bootstrap_caption(reports)
    return table(header, rows) + (f'<p class="meta">{escape(caption)}</p>' if caption else "")


def breakdown_html(report: RunReport) -> str:
    rows = []
    for name, rates in (("repo", report.by_repo), ("difficulty", report.by_difficulty),
                        ("status", report.by_status), ("outcome", report.by_outcome)):
        tautology = name == "outcome"  # an outcome decides resolved: a rate there says nothing
        rows += [[f"{name}: {r.group}", r.n, r.resolved, "" if tautology else percent(r.rate),
                  "" if tautology else interval(r.wilson)] for r in rates]
    note = "" if report.by_difficulty else '<p class="meta">No difficulty breakdown: the dataset carries none.</p>'
    return table(["group", "instances", "resolved", "rate", "Wilson 95% CI"], rows) + note


def card_html(items: list[Item]) -> str:
    parts, section = [], None
    for item in items:
        if item.section != section:
            if section is not None:
                parts.append("</table>")
            section = item.section
            parts.append(f'<h4>{escape(section)}</h4><table class="card">')
        value = (f'<span class="missing">{NOT_RECORDED}</span>' if item.value is None
                 else f"<code>{escape(item.value)}</code>")
        marker = " *" if item.comparable else ""
        parts.append(f"<tr><td>{escape(item.name)}{marker}</td><td>{value}</td></tr>")
    return "".join(parts) + "</table><p class='meta'>* must match for two results to be comparable</p>"


def boxes(lines: list[str], css: str) -> str:
    return "".join(f'<div class="{css}">{escape(line)}</div>' for line in lines)


def page(title: str, body: list[str]) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
            f'<p class="meta">generated {stamp} by ATLAS {__version__}</p>' + "\n".join(body) + "</body></html>\n")


def details(reports: list[RunReport], cards: dict[str, list[Item]]) -> list[str]:
    """Breakdowns, totals and the methodology card of each side (folded when there are several)."""
    opened = " open" if len(reports) == 1 else ""
    body = ["<h2>Breakdowns and totals</h2>"]
    for report in reports:
        totals = table(["item", "value"], [list(row) for row in totals_rows(report)])
        body.append(f"<details{opened}><summary><b>{escape(report.label)}</b></summary>"
                    f"{breakdown_html(report)}{totals}</details>")
    body.append("<h2>Methodology</h2>")
    for label, items in cards.items():
        body.append(f"<details{opened}><summary><b>{escape(label)}</b></summary>{card_html(items)}</details>")
    return body


def report_page(title: str, reports: list[RunReport], cards: dict[str, list[Item]],
                warnings: list[str] = ()) -> str:
    """The page of `atlas report`: one run, or the members of a sweep."""
    notes = [f"{r.label}: {w}" if len(reports) > 1 else w for r in reports for w in r.warnings]
    body = [boxes([f"not comparable: {w}" for w in warnings], "alarm"), boxes(notes, "warn"),
            "<h2>Resolved rate</h2>", summary_html(reports), "<h2>Plots</h2>", plots(reports)]
    return page(title, body + details(reports, cards))


def compare_page(comparison: Comparison) -> str:
    """The page of `atlas compare`: warnings first, the side-by-side table, the paired tests, the plots."""
    c = comparison
    pairs = [[p.first, p.second, p.both, len(p.only_first), len(p.only_second), p.neither,
              f"{100 * p.difference:+.1f} pts", interval(p.difference_ci), f"{p.p_value:.4g}"] for p in c.pairs]
    discordant = "".join(
        f"<h4>{escape(p.first)} vs {escape(p.second)}</h4>"
        + table(["resolved only by", "instances"], [[p.first, ", ".join(p.only_first) or "none"],
                                                   [p.second, ", ".join(p.only_second) or "none"]], "card")
        for p in c.pairs)
    body = [boxes([f"NOT COMPARABLE: {w}" for w in c.warnings], "alarm"), boxes(c.unknowns, "warn"),
            boxes(c.notes, "note"),
            *(boxes([f"comparability verdict, {v.run} vs {v.published}: {v.overall.upper()}"]
                    + [check.words for check in v.checks if check.state != "same"], "alarm" if v.overall == "not comparable"
                    else "warn") for v in c.verdicts),
            f"<h2>Side by side on the {len(c.shared)} shared instance(s)</h2>", summary_html(c.reports),
            "<h2>Paired comparison (exact McNemar test on the discordant instances)</h2>",
            table(["A", "B", "both", "only A", "only B", "neither", "A - B", "paired bootstrap 95% CI",
                   "McNemar p"], pairs, "pairs"),
            "<h2>Instances only one side resolved</h2>", discordant, "<h2>Plots</h2>", plots(c.reports)]
    return page(c.title, body + details(c.reports, c.cards))
