"""The one table model of ATLAS and its terminal rendering; the HTML pages render the same model.

Every table (the results table at the end of a run, a sweep's table, the report's and the
comparison's tables) is built once as a `TableData` and drawn either by `to_rich` for the
terminal or by the `table` macro of templates/macros.html.j2 for the HTML pages. The number
formats shared by both live here too.

Infrastructure failures (an infrastructure status, or a harness that could not grade) are
not scores: they are left out of every rate's denominator and counted on a line of their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.table import Table

from atlas.harness.evaluate import Verdict
from atlas.records import InstanceResult


@dataclass
class Link:
    """A cell that links to another page in HTML (the terminal shows its text)."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Styled:
    """A cell drawn with a CSS class in HTML (e.g. "missing"); the terminal shows its text."""

    text: str
    css: str

    def __str__(self) -> str:
        return self.text


@dataclass
class TableData:
    """A title, column names, sections of rows (a rule between sections), a caption.

    The first `left` columns are left-aligned (labels), the rest right-aligned (numbers).
    `bold` is the set of (section, row) positions drawn in bold.
    """

    title: str
    columns: list[str]
    sections: list[list[list[Any]]]
    caption: str | None = None
    left: int = 1
    show_header: bool = True
    bold: set[tuple[int, int]] = field(default_factory=set)
    css: str = ""

    def rows(self) -> list[list[Any]]:
        return [row for section in self.sections for row in section]


def cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_rich(data: TableData) -> Table:
    """The table for a rich Console; texts are escaped, so a '[...]' in a cell is never taken for markup."""
    table = Table(title=escape(data.title) if data.title else None, title_justify="left", show_header=data.show_header)
    for index, column in enumerate(data.columns):
        table.add_column(escape(column), justify="left" if index < data.left else "right")
    for number, section in enumerate(data.sections):
        if number and section:
            table.add_section()
        for row_number, row in enumerate(section):
            texts = [escape(cell(v)) for v in row]
            if (number, row_number) in data.bold:
                texts = [f"[bold]{t}[/]" for t in texts]
            table.add_row(*texts)
    table.caption = escape(data.caption) if data.caption else None
    return table


# ---------------------------------------------------------------- number formats


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def interval(bounds: tuple[float, float] | None) -> str:
    return "-" if bounds is None else f"[{100 * bounds[0]:.1f}, {100 * bounds[1]:.1f}]"


def dollars(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def number(value: float | None, digits: int = 0) -> str:
    return "unknown" if value is None else f"{value:,.{digits}f}"


# ---------------------------------------------------------------- the table at the end of a run


def repo_of(instance_id: str) -> str:
    """SWE-bench ids are `owner__repo-number`."""
    return instance_id.rsplit("-", 1)[0].replace("__", "/")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def infra_failures(results: dict[str, InstanceResult], verdicts: dict[str, Verdict], selected: list[str]) -> dict[str, str]:
    """Selected instances that ended in an infrastructure failure -> the status or outcome that says so."""
    failed = {}
    for instance_id in selected:
        result, verdict = results.get(instance_id), verdicts.get(instance_id)
        if result is not None and result.status.is_infra_error:
            failed[instance_id] = result.status.value
        elif verdict is not None and verdict.infra:
            failed[instance_id] = verdict.outcome
    return failed


def results_table(title: str, results: dict[str, InstanceResult], verdicts: dict[str, Verdict],
                  selected: list[str]) -> TableData:
    """The overall line (scored instances), infrastructure failures apart, then a row per final status and repository."""
    resolved = {i for i, v in verdicts.items() if v.resolved} & set(selected)
    infra = infra_failures(results, verdicts, selected)
    scored = [i for i in selected if i not in infra]
    by_status: dict[str, list[str]] = defaultdict(list)
    by_repo: dict[str, list[str]] = defaultdict(list)
    for instance_id in selected:
        by_status[results[instance_id].status.value if instance_id in results else "unfinished"].append(instance_id)
    for instance_id in scored:
        by_repo[repo_of(instance_id)].append(instance_id)
    overall = [["all" + (" (scored)" if infra else ""), len(scored), len(resolved & set(scored)),
                _pct(len(resolved & set(scored)), len(scored))]]
    if infra:
        overall.append(["infrastructure failures (not scored)", len(infra), "-", "-"])
    statuses = []
    for status, ids in sorted(by_status.items()):
        n = len(resolved & set(ids))
        rate = "-" if all(i in infra for i in ids) else _pct(n, len([i for i in ids if i not in infra]))
        statuses.append([f"status: {status}", len(ids), n, rate])
    repos = [[f"repo: {repo}", len(ids), len(resolved & set(ids)), _pct(len(resolved & set(ids)), len(ids))]
             for repo, ids in sorted(by_repo.items())]
    unfinished = sum(i not in results for i in selected)
    return TableData(title, ["group", "instances", "resolved", "rate"], [overall, statuses, repos],
                     caption=f"{unfinished} instance(s) not finished; re-run the same command to resume" if unfinished else None,
                     bold={(0, 0)})
