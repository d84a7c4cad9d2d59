"""The live display of a batch: a bar with counts per status, elapsed time and ETA; the resolved rate
graded so far with its Wilson interval; and the finish line (atlas.finish_line)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)

from atlas.costs import Pricing
from atlas.finish_line import Projection, project
from atlas.grading_pool import Grade
from atlas.intervals import wilson_interval
from atlas.records import InstanceResult, Status

STYLE = {Status.SUBMITTED: "green", **{s: "red" for s in Status if s.is_infra_error}}


@dataclass
class Tally:
    """What this session measured: per-instance agent and grading times, dollars, verdicts."""

    total: int  # instances in the selection
    workers: int
    grade_workers: int
    pricing: Pricing | None = None
    agent_seconds: list[float] = field(default_factory=list)
    grade_seconds: list[float] = field(default_factory=list)
    costs_usd: list[float] = field(default_factory=list)
    resolved: int = 0
    scored: int = 0  # graded, infrastructure failures left out
    graded: int = 0

    def projection(self) -> Projection | None:
        return project(self.total, self.agent_seconds, self.grade_seconds, self.costs_usd, self.workers,
                       self.grade_workers, self.pricing)

    def rate_text(self) -> str:
        """`resolved k/n (p%, Wilson 95% [lo, hi])` over the instances graded so far."""
        if not self.scored:
            return "resolved -"
        low, high = wilson_interval(self.resolved, self.scored)
        return (f"resolved {self.resolved}/{self.scored} ({100 * self.resolved / self.scored:.1f}%, "
                f"Wilson 95% [{100 * low:.1f}, {100 * high:.1f}])")


class BatchProgress:
    def __init__(self, total: int, already_done: int, console: Console | None = None, label: str = "",
                 tally: Tally | None = None, grading: bool = False):
        self.console = console or Console(stderr=True)
        self.counts: Counter[str] = Counter()
        self.tally = tally or Tally(total + already_done, 1, 1)
        self.lock = threading.Lock()  # gradings report from their own threads
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"), console=self.console,
        )
        self.task = self.progress.add_task(f"{label}instances", total=total, completed=0, counts="")
        self.grades = grading  # instances are graded as they finish: a second row counts the verdicts
        self.grading = None
        self.label = label
        if already_done:
            self.console.print(f"{label}resuming: {already_done} instance(s) already finished, {total} to run")

    @staticmethod
    def warn(message: str) -> None:
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)

    def note(self, message: str) -> None:
        self.console.print(f"{self.label}{escape(message)}", soft_wrap=True, highlight=False)

    def __enter__(self) -> "BatchProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()
        projection = self.tally.projection()
        if self.tally.graded or projection:
            parts = [self.tally.rate_text()] if self.tally.graded else []
            parts += [f"finish line: {projection.summary()}"] if projection else []
            self.console.print(f"{self.label}" + "; ".join(parts), soft_wrap=True, highlight=False)

    def _counts(self) -> str:
        counts = "  ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        projection = self.tally.projection()
        return counts + (f"  | {projection.summary()}" if projection else "")

    def finished(self, result: InstanceResult) -> None:
        with self.lock:
            self.counts[result.status.value] += 1
            self.tally.agent_seconds.append(result.wall_seconds)
            self.tally.costs_usd.append(result.cost_usd)
            if self.grades:
                self._expect_grades(1)
        style = STYLE.get(result.status, "yellow")
        # the cause in full, never cut: it often ends with the command that fixes it
        note = f" ({escape(result.error.strip().splitlines()[0])})" if result.error.strip() else ""
        self.console.print(
            f"[{style}]{result.status.value:>18}[/] {result.instance_id}  "
            f"{result.steps} steps, {result.wall_seconds:.1f}s, attempts {result.attempts}{note}",
            soft_wrap=True, highlight=False, markup=True,
        )
        self.progress.update(self.task, advance=1, counts=self._counts())

    def expect_grades(self, count: int) -> None:
        """`count` more gradings submitted (a resume grades what an earlier session finished)."""
        with self.lock:
            self._expect_grades(count)

    def _expect_grades(self, count: int) -> None:
        if self.grading is None:
            self.grading = self.progress.add_task(f"{self.label}graded", total=0, counts="resolved -")
        self.progress.update(self.grading, total=(self.progress.tasks[self.grading].total or 0) + count)

    def graded(self, grade: Grade) -> None:
        """One verdict, from a grading thread: the resolved rate so far and the finish line move."""
        with self.lock:
            tally = self.tally
            tally.graded += 1
            tally.grade_seconds.append(grade.seconds)
            if not grade.infra:
                tally.scored += 1
                tally.resolved += grade.resolved
            if self.grading is None:  # a grade of an earlier repeat, whose progress was this one's
                self._expect_grades(0)
            self.progress.update(self.grading, advance=1, counts=tally.rate_text())
            self.progress.update(self.task, counts=self._counts())
        style = "green" if grade.resolved else "red" if grade.infra else "yellow"
        self.console.print(f"[{style}]{'graded: ' + grade.outcome:>18}[/] {grade.instance_id}  {grade.seconds:.1f}s",
                           soft_wrap=True, highlight=False, markup=True)
