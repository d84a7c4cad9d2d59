"""The live display of a batch: a bar with counts per status, elapsed time and ETA."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)

from atlas.records import InstanceResult, Status

STYLE = {Status.SUBMITTED: "green", **{s: "red" for s in Status if s.is_infra_error}}


class BatchProgress:
    def __init__(self, total: int, already_done: int, console: Console | None = None, label: str = ""):
        self.console = console or Console(stderr=True)
        self.counts: Counter[str] = Counter()
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"), console=self.console,
        )
        self.task = self.progress.add_task(f"{label}instances", total=total, completed=0, counts="")
        if already_done:
            self.console.print(f"{label}resuming: {already_done} instance(s) already finished, {total} to run")

    @staticmethod
    def warn(message: str) -> None:
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)

    def __enter__(self) -> "BatchProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def finished(self, result: InstanceResult) -> None:
        self.counts[result.status.value] += 1
        style = STYLE.get(result.status, "yellow")
        # the cause in full, never cut: it often ends with the command that fixes it
        note = f" ({escape(result.error.strip().splitlines()[0])})" if result.error.strip() else ""
        self.console.print(
            f"[{style}]{result.status.value:>18}[/] {result.instance_id}  "
            f"{result.steps} steps, {result.wall_seconds:.1f}s, attempts {result.attempts}{note}",
            soft_wrap=True, highlight=False, markup=True,
        )
        counts = "  ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, counts=counts)
