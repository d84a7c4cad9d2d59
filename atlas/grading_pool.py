"""Grading as you go: each instance is graded as soon as its patch is final, beside the agents still working.

The core never imports the harness: the composition root (atlas.cli / atlas.app) passes a
`GraderFactory`, as it passes the ScaffoldFactory. A grader grades one prediction with the
official harness and records the verdict in the run directory (results.json, replaced
atomically after each verdict, so `atlas report` reads the graded-so-far table during a
run). The pool runs `harness.workers` gradings at once on its own threads, and reports
each grade to a callback (the progress line).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Protocol

from atlas.config import AtlasConfig
from atlas.records import InstanceResult, Prediction
from atlas.rundir import RunDir

INFRA_OUTCOMES = ("infra_error", "eval_error")  # failures of the machinery: kept out of the resolved rate


@dataclass(frozen=True)
class Grade:
    """One instance's verdict and how long grading it took."""

    instance_id: str
    resolved: bool
    outcome: str  # resolved | unresolved | empty_patch | patch_apply_failed | test_timeout | eval_error | infra_error
    seconds: float = 0.0

    @property
    def infra(self) -> bool:
        return self.outcome in INFRA_OUTCOMES


class InstanceGrader(Protocol):
    """Grades the predictions of one run directory (one repeat of a run with repeats)."""

    def graded(self) -> set[str]:
        """Instance ids that already have a verdict (a resume grades the finished ones that do not)."""
        ...

    def grade(self, prediction: Prediction, infra: bool) -> Grade:
        """Grade one prediction (blocking) and record its verdict; `infra`: the instance ended in an
        infrastructure status and is recorded as not graded."""
        ...

    def close(self, cancel: bool) -> None:
        """Release the grader's workers; `cancel`: stop gradings in flight."""
        ...


# (config, the run directory whose preds it grades, the harness run_id) -> a grader
GraderFactory = Callable[[AtlasConfig, RunDir, str], InstanceGrader]


def prediction_of(run_dir: RunDir, model_name: str, result: InstanceResult) -> Prediction:
    """The prediction preds.jsonl holds for a finished instance (the patch only if the agent submitted one)."""
    patch = (run_dir.instance_dir(result.instance_id) / "patch.diff").read_text() if result.submitted_patch else ""
    return Prediction(instance_id=result.instance_id, model_name_or_path=model_name, model_patch=patch)


class GradingPool:
    """`workers` gradings at once; every finished instance is submitted once its status.json is written."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="atlas-grader")
        self.futures: list[Future] = []
        self.graders: list[InstanceGrader] = []
        self.lock = threading.Lock()

    def add(self, grader: InstanceGrader) -> InstanceGrader:
        self.graders.append(grader)
        return grader

    def submit(self, grader: InstanceGrader, run_dir: RunDir, model_name: str, result: InstanceResult,
               on_grade: Callable[[Grade], None]) -> Future:
        prediction = prediction_of(run_dir, model_name, result)

        def grade() -> Grade:
            t0 = time.monotonic()
            verdict = grader.grade(prediction, result.status.is_infra_error)
            verdict = Grade(verdict.instance_id, verdict.resolved, verdict.outcome,
                            verdict.seconds or round(time.monotonic() - t0, 3))
            on_grade(verdict)
            return verdict

        future = self.pool.submit(grade)
        with self.lock:
            self.futures.append(future)
        return future

    def drain(self) -> list[Grade]:
        """Wait for every grading submitted; an exception of one (a bug) is raised here."""
        with self.lock:
            futures = list(self.futures)
        return [f.result() for f in futures]

    def close(self, cancel: bool = False) -> None:
        """Normally after `drain`; `cancel` (Ctrl-C) stops the graders' work in flight first."""
        if cancel:
            for grader in self.graders:
                grader.close(cancel=True)
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if not cancel:
            for grader in self.graders:
                grader.close(cancel=False)
