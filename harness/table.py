"""The results table printed at the end of a run: resolved / total, per status, per repository."""

from __future__ import annotations

from collections import defaultdict

from rich.table import Table

from atlas.records import InstanceResult
from atlas.harness.evaluate import Verdict


def repo_of(instance_id: str) -> str:
    """SWE-bench ids are `owner__repo-number`."""
    return instance_id.rsplit("-", 1)[0].replace("__", "/")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def results_table(title: str, results: dict[str, InstanceResult], verdicts: dict[str, Verdict],
                  selected: list[str]) -> Table:
    """One table: the overall line, then a row per final status and per repository."""
    table = Table(title=title, title_justify="left")
    for column in ("group", "instances", "resolved", "rate"):
        table.add_column(column, justify="left" if column == "group" else "right")
    resolved = {i for i, v in verdicts.items() if v.resolved}
    total = len(selected)
    table.add_row("[bold]all[/]", str(total), f"[bold]{len(resolved & set(selected))}[/]",
                  _pct(len(resolved & set(selected)), total))
    unfinished = [i for i in selected if i not in results]
    by_status: dict[str, list[str]] = defaultdict(list)
    for instance_id in selected:
        by_status[results[instance_id].status.value if instance_id in results else "unfinished"].append(instance_id)
    table.add_section()
    for status, ids in sorted(by_status.items()):
        n = len(resolved & set(ids))
        table.add_row(f"status: {status}", str(len(ids)), str(n), _pct(n, len(ids)))
    by_repo: dict[str, list[str]] = defaultdict(list)
    for instance_id in selected:
        by_repo[repo_of(instance_id)].append(instance_id)
    table.add_section()
    for repo, ids in sorted(by_repo.items()):
        n = len(resolved & set(ids))
        table.add_row(f"repo: {repo}", str(len(ids)), str(n), _pct(n, len(ids)))
    if unfinished:
        table.caption = f"{len(unfinished)} instance(s) not finished; re-run the same command to resume"
    return table
