"""Every table of `atlas report`, `atlas compare` and `atlas power`, built once as TableData.

The terminal (table.to_rich) and the HTML pages (templates/macros.html.j2) draw these same
objects, so a number never differs between the two.
"""

from __future__ import annotations

from typing import Any, Callable

from atlas.finish_line import hours_text
from atlas.records import Status
from atlas.harness.power import Design, detectable_difference, instances_needed
from atlas.harness.repeats import RepeatsReport
from atlas.harness.report import RunReport, Totals
from atlas.harness.sides import InstanceRow, Side
from atlas.harness.methodology import NOT_RECORDED, Item
from atlas.harness.table import Link, Styled, TableData, dollars, interval, number, percent

SUMMARY_COLUMNS = ["run", "instances", "resolved", "rate", "Wilson 95% CI", "bootstrap 95% CI", "infra", "cost",
                   "$/resolved", "tokens/resolved", "instance-h", "GPU-h"]



# ---------------------------------------------------------------- words and figures of a report


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


def summary_table(reports: list[RunReport], title: str) -> TableData:
    """One row per report: resolved rate with both intervals, cost, cost and tokens per resolved, hours."""
    rows = [[r.label, r.overall.n, r.overall.resolved, percent(r.overall.rate), interval(r.overall.wilson),
             interval(r.overall.bootstrap), r.infra_failures, dollars(r.totals.cost_usd),
             per_resolved(r, r.totals.cost_per_resolved, True), per_resolved(r, r.totals.tokens_per_resolved, False),
             number(r.totals.instance_hours, 3), gpu_hours_text(r.totals)] for r in reports]
    notes = [bootstrap_caption(reports)]
    if any(r.infra_failures for r in reports):
        notes.append("instances: scored instances; infra: infrastructure failures, not scored and not in the rate")
    return TableData(title, SUMMARY_COLUMNS, [rows], caption="; ".join(n for n in notes if n) or None)


def breakdown_table(report: RunReport) -> TableData:
    sections = []
    for name, rates in (("repo", report.by_repo), ("difficulty", report.by_difficulty),
                        ("status", report.by_status), ("outcome", report.by_outcome)):
        tautology = name == "outcome"  # an outcome decides resolved: a rate there says nothing
        sections.append([[f"{name}: {r.group}", r.n, r.resolved, "" if tautology else percent(r.rate),
                          "" if tautology else interval(r.wilson)] for r in rates])
    return TableData(f"{report.label}: breakdowns", ["group", "instances", "resolved", "rate", "Wilson 95% CI"],
                     [s for s in sections if s],
                     caption=None if report.by_difficulty else "no difficulty breakdown: the dataset carries no difficulty")


def totals_table(report: RunReport) -> TableData:
    return TableData(f"{report.label}: totals", ["item", "value"], [[list(row) for row in totals_rows(report)]],
                     show_header=False, css="card")


def pairs_table(pairs: list[Any]) -> TableData:
    """The paired tests of a comparison (atlas.harness.compare.Pair)."""
    rows = [[p.first, p.second, p.both, len(p.only_first), len(p.only_second), p.neither,
             f"{100 * p.difference:+.1f} pts", interval(p.difference_ci), f"{p.p_value:.4g}"] for p in pairs]
    return TableData("paired: exact McNemar test on the discordant instances",
                     ["A", "B", "both", "only A", "only B", "neither", "A - B", "paired bootstrap 95% CI", "McNemar p"],
                     [rows], left=2, css="pairs")


def status_table(reports: list[RunReport]) -> TableData:
    """Exit statuses side by side: per side, how many instances ended so and how many of those resolved."""
    counts = [{r.group.removeprefix("status: "): r for r in report.by_status} for report in reports]
    order = [s.value for s in Status] + ["unfinished", "unknown"]
    statuses = sorted({k for c in counts for k in c}, key=lambda k: order.index(k) if k in order else len(order))
    rows = [[status, *(f"{c[status].n} ({c[status].resolved})" if status in c else "0" for c in counts)]
            for status in statuses]
    return TableData("how instances ended (exit status): instances, resolved among them",
                     ["exit status", *(r.label for r in reports)], [rows])


def discordant_table(pair: Any) -> TableData:
    """The instances only one side of a pair resolved."""
    return TableData(f"{pair.first} vs {pair.second}", ["resolved only by", "instances"],
                     [[[pair.first, ", ".join(pair.only_first) or "none"],
                       [pair.second, ", ".join(pair.only_second) or "none"]]], css="card")


def repeats_table(report: RepeatsReport) -> TableData:
    """pass@j and pass^j for every j <= k, the mean rate with both intervals, spread and detectable difference."""
    k = report.repeats
    estimates = [[f"pass@{j}", percent(e.value), interval(e.ci)] for j, e in report.pass_at.items()]
    estimates += [[f"pass^{j}", percent(e.value), interval(e.ci)] for j, e in report.pass_hat.items() if j > 1]
    measured = "measured" if report.icc is not None else "default: not measurable from these repeats"
    noise = [
        ["mean resolved rate over repeats", percent(report.mean.value), interval(report.mean.ci)],
        ["  its t interval across repeats", "", interval(report.mean_t)],
        ["each repeat's rate", ", ".join(percent(r) for r in report.rates), ""],
        ["run-to-run spread (sd, range)",
         "-" if report.spread_sd is None else f"{100 * report.spread_sd:.1f} pts",
         f"{percent(report.spread_range[0])} to {percent(report.spread_range[1])}"],
        ["share of variance between instances (icc)", f"{report.icc_used:.2f}", measured],
        ["detectable at 80% power, paired arm", f"{100 * report.mdd_paired:.1f} pts",
         f"n={report.instances}, k={k}, alpha 0.05"],
        ["detectable at 80% power, unpaired arm", f"{100 * report.mdd_unpaired:.1f} pts", ""],
    ]
    return TableData(f"{report.label}: {k} repeats of {report.instances} instances",
                     ["estimate", "value", "95% CI (bootstrap over instances)"], [estimates, noise],
                     caption="pass@j = 1 - C(k-c, j)/C(k, j), pass^j = C(c, j)/C(k, j) per instance with c of k "
                             "resolved, averaged over instances; see `atlas power` for the detectable difference")


def frequency_table(report: RepeatsReport) -> TableData:
    """How many instances were resolved in 0, 1, ..., k of the k repeats."""
    k = report.repeats
    counts = [sum(c == j for c in report.successes.values()) for j in range(k + 1)]
    rows = [[f"{j} of {k}", counts[j], percent(counts[j] / report.instances if report.instances else None)]
            for j in range(k + 1)]
    return TableData(f"{report.label}: per-instance success frequency", ["resolved in", "instances", "share"], [rows])


def power_table(design: Design, effect: float | None, instances: int | None) -> TableData:
    """`atlas power`: instances needed for `effect` at 1..5 repeats, and/or the difference `instances` detect."""
    rows: list[list[Any]] = []
    for repeats in sorted({1, 2, 3, 5, design.repeats}):
        d = Design(design.rate, repeats, design.icc, design.correlation, design.alpha, design.power)
        row = [repeats if repeats != design.repeats else f"{repeats} (asked)"]
        if effect is not None:
            row.append(f"{instances_needed(effect, d):,}")
        if instances is not None:
            row.append(f"{100 * detectable_difference(instances, d):.2f} pts")
        rows.append(row)
    columns = ["repeats per arm"]
    if effect is not None:
        columns.append(f"instances to detect {100 * effect:g} pts")
    if instances is not None:
        columns.append(f"detectable with {instances:,} instances")
    paired = f"paired (correlation {design.correlation:g})" if design.correlation else "unpaired"
    return TableData(f"power {design.power:g} at alpha {design.alpha:g}, two-sided; rate {100 * design.rate:g}%, "
                     f"{paired}, icc {design.icc:g}", columns, [rows],
                     caption="var_d = 2 p(1-p) [icc (1 - r) + (1 - icc)/k]; n = (z_a/2 + z_b)^2 var_d / d^2 "
                             "(atlas.harness.power)")


INSTANCE_FIELDS: list[tuple[str, Callable[[InstanceRow], Any]]] = [
    ("status", lambda r: r.status),
    ("exit reason", lambda r: r.reason),
    ("steps", lambda r: "" if r.steps is None else r.steps),
    ("tokens", lambda r: "" if r.prompt_tokens is None else f"{(r.prompt_tokens or 0) + (r.completion_tokens or 0):,}"),
    ("cost", lambda r: "" if r.cost_usd is None else dollars(r.cost_usd)),
    ("resolved", lambda r: "yes" if r.resolved else "no"),
]


def instances_table(sides: list[Side], ids: list[str], links: dict[str, dict[str, str]],
                    successes: dict[str, int] | None = None) -> TableData:
    """One row per instance: status, exit reason, steps, tokens, cost and resolved in each side.

    `links[side label][instance id]` is the href of that side's trajectory viewer page; `successes`
    (the repeats of one run) adds how many of the sides resolved each instance.
    """
    several = len(sides) > 1
    columns = ["instance"] + (["resolved in"] if successes is not None else [])
    columns += [f"{s.label}: {name}" if several else name for s in sides for name, _ in INSTANCE_FIELDS]
    rows = []
    for instance_id in ids:
        row: list[Any] = [instance_id]
        if successes is not None:
            row.append(f"{successes[instance_id]} of {len(sides)}")
        for side in sides:
            data = side.rows.get(instance_id)
            values = [get(data) if data else "" for _, get in INSTANCE_FIELDS]
            href = links.get(side.label, {}).get(instance_id)
            if href:
                values[0] = Link(values[0], href)
            row += values
        rows.append(row)
    return TableData("", columns, [rows], css="instances",
                     caption="a status links to the trajectory viewer: each step's thought, command and output, "
                             "and the final patch next to the gold patch")


def budget_table(rows: list[dict[str, Any]]) -> TableData:
    """Each arm's attempts, budget cap, mean spend per instance and resolved rate (atlas.harness.budget)."""
    body = [[r["label"], r["k"], r["cap"], dollars(r["usd"]), number(r["gpu_seconds"], 1), number(r["wall_seconds"], 1),
             percent(r["rate"]), interval(r["wilson"])] for r in rows]
    return TableData("resolved rate against the budget per instance",
                     ["arm", "attempts (k)", "cap per instance", "$ / instance", "GPU-s / instance", "wall-s / instance",
                      "rate", "Wilson 95% CI"], [body])


def card_tables(items: list[Item]) -> list[TableData]:
    """A methodology card, one table per section; * marks what must match for two results to be comparable."""
    tables: list[TableData] = []
    for item in items:
        if not tables or tables[-1].title != item.section:
            tables.append(TableData(item.section, ["item", "value"], [[]], show_header=False, css="card"))
        value = Styled(NOT_RECORDED, "missing") if item.value is None else item.value
        tables[-1].sections[0].append([item.name + (" *" if item.comparable else ""), value])
    return tables
