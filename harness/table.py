"""The results table printed at the end of a run: resolved / total, per status, per repository.

Infrastructure failures (an infrastructure status, or a harness that could not grade) are
not scores: they are left out of every rate's denominator and counted on a line of their own.
"""

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
                  selected: list[str]) -> Table:
    """One table: the overall line, then a row per final status and per repository."""
    table = Table(title=title, title_justify="left")
    for column in ("group", "instances", "resolved", "rate"):
        table.add_column(column, justify="left" if column == "group" else "right")
    resolved = {i for i, v in verdicts.items() if v.resolved}
    infra = infra_failures(results, verdicts, selected)
    scored = [i for i in selected if i not in infra]
    table.add_row("[bold]all[/]" + (" (scored)" if infra else ""), str(len(scored)),
                  f"[bold]{len(resolved & set(scored))}[/]", _pct(len(resolved & set(scored)), len(scored)))
    if infra:
        table.add_row("[red]infrastructure failures (not scored)[/]", str(len(infra)), "-", "-")
    unfinished = [i for i in selected if i not in results]
    by_status: dict[str, list[str]] = defaultdict(list)
    for instance_id in selected:
        by_status[results[instance_id].status.value if instance_id in results else "unfinished"].append(instance_id)
    table.add_section()
    for status, ids in sorted(by_status.items()):
        n = len(resolved & set(ids))
        rate = "-" if all(i in infra for i in ids) else _pct(n, len([i for i in ids if i not in infra]))
        table.add_row(f"status: {status}", str(len(ids)), str(n), rate)
    by_repo: dict[str, list[str]] = defaultdict(list)
    for instance_id in scored:
        by_repo[repo_of(instance_id)].append(instance_id)
    table.add_section()
    for repo, ids in sorted(by_repo.items()):
        n = len(resolved & set(ids))
        table.add_row(f"repo: {repo}", str(len(ids)), str(n), _pct(n, len(ids)))
    if unfinished:
        table.caption = f"{len(unfinished)} instance(s) not finished; re-run the same command to resume"
    return table
