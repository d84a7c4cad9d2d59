"""The batch runner: every selected instance through container -> agent -> patch, in parallel, resumably.

One `run()` call is one session of a run directory: it takes the directory's lock,
sweeps containers a killed session left behind, refuses config drift, skips finished
instances, runs the rest on `run.workers` workers (atlas.executors, each calling
atlas.solve), and rebuilds preds.jsonl. With grading on and a grader given, each finished
instance is graded at once beside the agents (atlas.grading_pool), and a resume grades
what a killed session finished but did not grade.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from pathlib import Path

from atlas.config import AtlasConfig
from atlas.datasets import Instance, load_instances, resolve_path, select
from atlas.environments import EnvError, docker_client
from atlas.environments.docker import remove_labeled
from atlas.executors import make_executor
from atlas.finish_line import pricing_of
from atlas.gradable import check_gradable
from atlas.grading_pool import GraderFactory, GradingPool, InstanceGrader
from atlas.images import build_task_images
from atlas.interfaces import ScaffoldFactory
from atlas.manifest import check_drift
from atlas.models import make_model
from atlas.models.metering import MeteredModel
from atlas.node_task import solve_on_node
from atlas.progress import BatchProgress, Tally
from atlas.records import InstanceResult
from atlas.repeats import repeat_dirs, repeat_label
from atlas.rundir import RunDir
from atlas.stopping import stop_on_signals
from atlas.session import RunSummary, Session
from atlas.session_manifest import finish_manifest, start_manifest
from atlas.solve import solve


def _pending(run_dir: RunDir, instances: list[Instance], rerun_errors: bool) -> list[Instance]:
    todo = []
    for instance in instances:
        result = run_dir.read_result(instance.instance_id)
        if result is None or (rerun_errors and result.status.is_infra_error):
            todo.append(instance)
    return todo


class _Grading:
    """The session's grading as it goes: one grader per run directory (repeat), one pool for all."""

    def __init__(self, config: AtlasConfig, make_grader: GraderFactory, model_name: str):
        self.config, self.make_grader, self.model_name = config, make_grader, model_name
        self.pool = GradingPool(config.harness.workers)
        self.graders: dict[Path, InstanceGrader] = {}

    def open(self, member: RunDir, number: int, repeats: int) -> None:
        run_id = self.config.harness.run_id + (f".{repeat_label(number)}" if repeats > 1 else "")
        self.graders[member.path] = self.pool.add(self.make_grader(self.config, member, run_id))

    def submit(self, member: RunDir, result: InstanceResult, progress: BatchProgress) -> None:
        self.pool.submit(self.graders[member.path], member, self.model_name, result, progress.graded)

    def resume(self, member: RunDir, instances: list[Instance], pending: list[Instance],
               progress: BatchProgress) -> int:
        """Submit what an earlier session finished but did not grade; returns how many."""
        waiting = {i.instance_id for i in pending}
        graded = self.graders[member.path].graded()
        finished = member.results([i.instance_id for i in instances if i.instance_id not in waiting])
        ungraded = [r for r in finished.values() if r.instance_id not in graded]
        progress.expect_grades(len(ungraded))
        for result in ungraded:
            self.submit(member, result, progress)
        return len(ungraded)


def _run_pool(session: Session, todo: list[Instance], progress: BatchProgress,
              grading: _Grading | None) -> None:
    """Run instances on the configured executor; on Ctrl-C remove this session's containers and stop."""
    if not todo:
        return
    executor = make_executor(session, solve, solve_on_node)
    futures: set[Future] = set()
    try:
        futures = {executor.submit(i) for i in todo}
        while futures:
            done, futures = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                result = executor.collect(future)
                session.run_dir.append_prediction(session.model.name, result)
                progress.finished(result)
                if grading is not None:  # status.json and the patch are final: grade it now
                    grading.submit(session.run_dir, result, progress)
    except BaseException:
        session.cancel.set()
        for future in futures:
            future.cancel()
        executor.cancel()
        raise
    finally:
        executor.shutdown()


def _stop(session: Session) -> None:
    """The first Ctrl-C / SIGTERM (atlas.stopping): workers stop, model calls in flight are abandoned."""
    session.cancel.set()
    session.model.cancel()


def run(config: AtlasConfig, run_path: Path, make_scaffold: ScaffoldFactory,
        make_grader: GraderFactory | None = None) -> RunSummary:
    """One session of the run at `run_path` (created or resumed), driving the scaffold `make_scaffold` builds.

    `make_grader` (from atlas.harness, passed by the CLI): grade each instance as soon as it finishes;
    None, or run.evaluate / harness.enabled / harness.stream off, leaves grading to the caller.
    """
    # bad input fails here, before the run directory or any container exists
    instances = select(load_instances(config.dataset), config.run)
    grades = config.run.evaluate and config.harness.enabled
    if grades:  # refuse what cannot be graded before any work
        check_gradable(instances, resolve_path(config.dataset))
    agent = make_scaffold(config.agent.model_dump())
    # the cap on requests in flight is lowered to the server's slots once it is open (atlas.models.metering)
    model = MeteredModel(make_model(config.model.model_dump(), scaffold=agent.name, gpu=config.gpu,
                                    reply_format=agent.reply_format(), workers=config.run.workers),
                         max_inflight=config.run.max_inflight_requests)
    client = docker_client()
    run_dir = RunDir(run_path)
    with run_dir.lock(), contextlib.ExitStack() as stack:
        stack.callback(model.close)
        swept = remove_labeled(client, **{"atlas.run_dir": str(run_dir.path)})
        session = Session(config, run_dir, model, agent, client, make_scaffold)
        check_drift(run_dir, config, agent.describe())
        # run.repeats > 1: each repeat is a run layout of its own (atlas.repeats), run one after another
        repeats = [(replace(session, run_dir=d, label_run_dir=str(run_dir.path)) if d is not run_dir else session,
                    _pending(d, instances, config.run.rerun_errors)) for d in repeat_dirs(run_dir, config.run.repeats)]
        todo_ids = {i.instance_id for _, todo in repeats for i in todo}
        todo = [i for i in instances if i.instance_id in todo_ids]
        if todo:  # the model (server) answers before anything is written to the run directory
            model.open(run_dir.path)
        manifest = start_manifest(session, instances, swept)
        if todo and config.dataset.source == "task_repo" and config.env.build_missing:
            try:
                build_task_images(client, resolve_path(config.dataset), todo, run_dir.path / "images",
                                  workers=config.run.workers)
            except EnvError as e:  # each instance without its image then ends as image_missing, not the run
                BatchProgress.warn(f"building the missing task images failed: {e}")
        stack.enter_context(stop_on_signals(lambda: _stop(session)))
        grading = (_Grading(config, make_grader, model.name)
                   if grades and config.harness.stream and make_grader is not None else None)
        # preds.jsonl starts from what is finished and grows by one line per instance
        for member, pending in repeats:
            member.run_dir.write_predictions(model.name, exclude={i.instance_id for i in pending})
        try:
            for number, (member, pending) in enumerate(repeats, 1):
                label = f"repeat {number}/{len(repeats)}: " if len(repeats) > 1 else ""
                tally = Tally(len(instances), config.run.workers, config.harness.workers if grading else 1,
                              pricing_of(config.model.model_dump()))
                with BatchProgress(len(pending), len(instances) - len(pending), label=label, tally=tally,
                                   grading=grading is not None) as progress:
                    if grading is not None:
                        grading.open(member.run_dir, number, len(repeats))
                        waiting = grading.resume(member.run_dir, instances, pending, progress)
                        if waiting:
                            progress.note(f"grading {waiting} instance(s) finished but not graded")
                    _run_pool(member, pending, progress, grading)
                    if grading is not None and number == len(repeats):
                        grading.pool.drain()  # every repeat's last gradings, under the last progress line
        finally:
            if grading is not None:
                grading.pool.close(cancel=session.cancel.is_set() or not _drained(grading))
            if session.cancel.is_set():  # a container a worker started during the stop
                remove_labeled(client, **{"atlas.session": session.id})
            results: dict[str, InstanceResult] = {}
            for number, (member, _) in enumerate(repeats, 1):
                member.run_dir.write_predictions(model.name)
                found = member.run_dir.results([i.instance_id for i in instances])
                results.update(found if len(repeats) == 1 else {f"r{number}/{k}": v for k, v in found.items()})
            finish_manifest(session, manifest, results)
    return RunSummary(run_dir.path, [i.instance_id for i in instances], results)


def _drained(grading: _Grading) -> bool:
    return all(f.done() for f in grading.pool.futures)
