"""Grade one prediction the moment its instance finishes: the harness's own per-instance function, in a pool.

`StreamGrader` is the atlas.grading_pool.InstanceGrader of a run directory. Each prediction
is graded by `swebench.harness.run_evaluation.run_instance` (what the batch grader runs for
every instance) in a worker process whose current directory is `<run dir>/evaluation/`: the
harness writes its logs relative to the current directory, which threads cannot each set.
The verdict is read from the harness's files exactly as batch grading reads them
(atlas.harness.evaluate.verdict_of) and merged into results.json, replaced atomically.

Unlike `atlas evaluate`, a task repo's images are not rebuilt before grading: the instance is
graded in the image its agent ran in, which the run built or pulled. One removed since (by
`env.images.keep` or another process on the same engine) is built again first, as the batch
grading would build it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import docker

from atlas.config import AtlasConfig
from atlas.datasets import load_instances
from atlas.environments import EnvError
from atlas.images import build_task_images
from atlas.grading_pool import Grade
from atlas.harness.evaluate import (
    RESULTS_FILE,
    drop_stale_reports,
    graded_rows,
    log_dir_of,
    results_header,
    unique_run_id,
    verdict_of,
    write_results,
)
from atlas.manifest import now
from atlas.records import Prediction
from atlas.rundir import RunDir

_CLIENT: list[docker.DockerClient] = []  # one Docker client per grading process


class GradingCancelled(Exception):
    """A grading stopped by Ctrl-C / SIGTERM: no verdict is recorded, a resume grades the instance."""


def _start_worker(evaluation_dir: str) -> None:
    """A grading process: logs go under evaluation_dir; Ctrl-C is the parent's to handle."""
    os.chdir(evaluation_dir)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _import_harness() -> None:
    import swebench.harness.run_evaluation  # noqa: F401  (seconds of imports, paid before the first grading)


def _grade_in_worker(dataset_name: str, split: str, task_repo: str | None, run_id: str, timeout: int,
                     prediction: dict) -> None:
    """Runs in a grading process: load the row, build its test spec, run the harness on it."""
    from swebench.harness.run_evaluation import load_instances, run_instance
    from swebench.harness.utils import make_test_spec

    if not _CLIENT:
        _CLIENT.append(docker.from_env(timeout=600))
    rows = load_instances(dataset_name, split, [prediction["instance_id"]], task_repo)
    row = next(r for r in rows if r["instance_id"] == prediction["instance_id"])
    run_instance(make_test_spec(row), prediction, _CLIENT[0], run_id, timeout=timeout, task_repo=task_repo)


class StreamGrader:
    """Grades one run directory's predictions as they come, `harness.workers` at once."""

    def __init__(self, config: AtlasConfig, run_dir: RunDir, run_id: str):
        # unique per run directory, as batch grading's (atlas.harness.evaluate.grading_run_id)
        self.config, self.run_dir, self.run_id = config, run_dir, unique_run_id(run_dir, run_id)
        run_dir.evaluation.mkdir(parents=True, exist_ok=True)
        # the rows as ATLAS loaded (and completed) them, so classic rows are graded like batch grading's
        self.dataset_name = graded_rows(run_dir, config.dataset)
        self.task_repo = self.dataset_name if config.dataset.source == "task_repo" else None
        self.header = results_header(config.dataset, self.run_id)
        self.lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.cancelled = False  # the session is stopping: gradings cut short are not verdicts
        self.task_instances = {i.instance_id: i for i in load_instances(config.dataset)} if self.task_repo else {}
        self.build_lock = threading.Lock()  # one image build at a time
        self.instances = self._recorded()
        run_dir.evaluation.mkdir(parents=True, exist_ok=True)
        write_results(run_dir, self.header, self.instances)  # `atlas report` works from the first minute
        # spawned, not forked: the parent runs threads (agents, Docker clients) a fork would copy mid-flight
        self.pool = ProcessPoolExecutor(max_workers=config.harness.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(str(run_dir.evaluation),))
        for _ in range(config.harness.workers):  # start and import now, while the first agents work
            self.pool.submit(_import_harness)

    def _recorded(self) -> dict[str, dict]:
        """Verdicts an earlier session recorded under the same harness run_id (others are graded again)."""
        path = self.run_dir.path / RESULTS_FILE
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        # the run_id's last part hashes the run directory's path (container names): a run folder moved or
        # copied keeps its verdicts, which belong to its predictions
        recorded = str((data.get("harness") or {}).get("run_id"))
        same = recorded.rsplit(".", 1)[0] == self.run_id.rsplit(".", 1)[0]
        return dict(data.get("instances") or {}) if same else {}

    def graded(self) -> set[str]:
        with self.lock:
            return set(self.instances)

    def grade(self, prediction: Prediction, infra: bool) -> Grade:
        instance_id, patch, t0 = prediction.instance_id, prediction.model_patch or "", time.monotonic()
        log_dir = log_dir_of(self.run_dir, self.run_id, prediction.model_name_or_path)
        if infra:  # not a score: never graded (atlas.harness.evaluate)
            grade = Grade(instance_id, False, "infra_error")
        elif not patch.strip():
            grade = Grade(instance_id, False, "empty_patch")
        else:
            drop_stale_reports(log_dir, [prediction.model_dump()])
            self._ensure_task_image(instance_id)
            with self.lock:
                self.in_flight.add(instance_id)
            try:
                self.pool.submit(_grade_in_worker, self.dataset_name, self.config.dataset.split, self.task_repo,
                                 self.run_id, self.config.harness.timeout, prediction.model_dump()).result()
            except Exception as e:  # the grading process died or the engine failed: eval_error, not a score
                (log_dir / instance_id).mkdir(parents=True, exist_ok=True)
                with open(log_dir / instance_id / "atlas_grading_error.log", "a", encoding="utf-8") as fh:
                    fh.write(f"{type(e).__name__}: {e}\n")
            finally:
                with self.lock:
                    self.in_flight.discard(instance_id)
            if self.cancelled:  # left ungraded: the next session grades it
                raise GradingCancelled(instance_id)
            verdict = verdict_of(log_dir / instance_id, instance_id, patch)
            grade = Grade(instance_id, verdict.resolved, verdict.outcome)
        grade = Grade(instance_id, grade.resolved, grade.outcome, round(time.monotonic() - t0, 3))
        with self.lock:
            self.instances[instance_id] = {"resolved": grade.resolved, "outcome": grade.outcome,
                                           "graded_at": now(), "grading_seconds": grade.seconds}
            write_results(self.run_dir, self.header, self.instances)
        return grade

    def _ensure_task_image(self, instance_id: str) -> None:
        """A task repo's image gone since its agent ran is built again; a failed build leaves the harness to
        report the missing image (eval_error)."""
        instance = self.task_instances.get(instance_id)
        if instance is None:
            return
        with self.build_lock:
            try:
                build_task_images(docker.from_env(), self.task_repo, [instance], self.run_dir.path / "images")
            except EnvError:
                pass

    def close(self, cancel: bool) -> None:
        if cancel:  # stop gradings in flight, and the harness containers they started
            self.cancelled = True
            for process in list(getattr(self.pool, "_processes", {}).values()):  # no public way before 3.14
                process.terminate()
            self._remove_containers()
        self.pool.shutdown(wait=not cancel, cancel_futures=True)

    def _remove_containers(self) -> None:
        with self.lock:
            names = [f"sweb.eval.{i.lower()}.{self.run_id}" for i in self.in_flight]
        if not names:
            return
        client = docker.from_env()
        for name in names:
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.DockerException:
                pass  # gone already, or the harness never created it


def make_grader(config: AtlasConfig, run_dir: RunDir, run_id: str) -> StreamGrader:
    """The GraderFactory the CLI passes to atlas.runner.run."""
    return StreamGrader(config, run_dir, run_id)
