"""The batch runner: every selected instance through container -> agent -> patch, in parallel, resumably.

One `run()` call is one session of a run directory: it takes the directory's lock,
sweeps containers a killed session left behind, refuses config drift, skips finished
instances, runs the rest on `run.workers` threads, and rebuilds preds.jsonl. An
infrastructure failure (environment or model) is retried `run.retries` times and, if
it persists, recorded with its own status so it is never mistaken for an agent failure.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from atlas.best_of import CANDIDATES_DIR, solve_best_of
from atlas.config import AtlasConfig, validate
from atlas.dataset_record import dataset_record
from atlas.datasets import Instance, load_instances, resolve_path, select
from atlas.environments import DockerEnvironment, EnvError, ImageMissing, docker_client
from atlas.environments.docker import LIFETIME_MARGIN_S, remove_labeled
from atlas.executors import make_executor
from atlas.gradable import check_gradable
from atlas.image_store import ensure, fix_command, image_ref
from atlas.images import build_task_images
from atlas.interfaces import Deadline, Scaffold, ScaffoldFactory
from atlas.manifest import check_drift, host_info, now, open_manifest, write_manifest
from atlas.models import ModelError, Usage, make_model
from atlas.models.metering import MeteredModel
from atlas.progress import BatchProgress
from atlas.records import InstanceResult, Status
from atlas.repeats import repeat_dirs
from atlas.rundir import RunDir
from atlas.stopping import stop_on_signals
from atlas.trajectory import Trajectory


class Cancelled(Exception):
    """The session is stopping (Ctrl-C / SIGTERM); the instance stays unfinished for a resume."""


@dataclass
class Session:
    config: AtlasConfig
    run_dir: RunDir
    model: MeteredModel
    agent: Scaffold
    client: object
    make_scaffold: ScaffoldFactory  # a Ray node builds its own scaffold with it
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    cancel: threading.Event = field(default_factory=threading.Event)
    label_run_dir: str = ""  # a Ray task's containers carry the driver's run directory, not its scratch one

    def labels(self, instance: Instance) -> dict[str, str]:
        run_dir = self.label_run_dir or str(self.run_dir.path)
        return {"atlas.run_dir": run_dir, "atlas.session": self.id, "atlas.instance": instance.instance_id}


@dataclass
class RunSummary:
    run_dir: Path
    selected: list[str]
    results: dict[str, InstanceResult]


def _attempt(session: Session, instance: Instance, trajectory: Trajectory, timeout: float) -> tuple[InstanceResult, str]:
    """One try in a fresh container; raises EnvError / ModelError for infrastructure failures."""
    settings = session.config
    ensure(session.client, image_ref(instance, settings.env.images), settings.env,
           fix_command(settings.dataset, [instance.instance_id], settings.env.images))
    with DockerEnvironment(instance.image_name(), settings.env, session.labels(instance), session.client,
                           lifetime_s=timeout + LIFETIME_MARGIN_S) as env:
        trajectory.record("start", instance_id=instance.instance_id, image=env.image, image_id=env.image_id)
        model = session.model.for_instance(instance)
        outcome = session.agent.run(model, env, instance, trajectory, Deadline(timeout))
        patch = outcome.patch if outcome.patch is not None else env.diff(instance.base_commit)
        trajectory.record("end", status=outcome.status.value, steps=outcome.steps, message=outcome.message)
    result = InstanceResult(
        instance_id=instance.instance_id, status=outcome.status, attempts=0, steps=outcome.steps,
        format_errors=outcome.format_errors, format_error_kinds=outcome.format_error_kinds, usage=outcome.usage, cost_usd=outcome.cost_usd,
        model_seconds=outcome.model_seconds, patch_lines=patch.count("\n"),
        submitted_patch=outcome.submitted and bool(patch.strip()), error=outcome.message,
        image=env.image, image_id=env.image_id, prefix_reuse=model.prefix_reuse(),
    )
    return result, patch


def _tries(session: Session, instance: Instance, where: Callable[[int], Path], timeout: float) -> tuple[InstanceResult, str]:
    """One attempt at the instance, retried `run.retries` times on infrastructure errors (or raise Cancelled)."""
    errors: list[str] = []
    attempts = session.config.run.retries + 1
    for attempt in range(1, attempts + 1):
        if session.cancel.is_set():
            raise Cancelled
        trajectory = Trajectory(where(attempt))
        try:
            result, patch = _attempt(session, instance, trajectory, timeout)
            if session.cancel.is_set():  # finished while the session was stopping: not recorded
                raise Cancelled
            break
        except (EnvError, ModelError) as e:
            if session.cancel.is_set():
                raise Cancelled from None
            status = (Status.IMAGE_MISSING if isinstance(e, ImageMissing) else
                      Status.ENV_ERROR if isinstance(e, EnvError) else Status.MODEL_ERROR)
            errors.append(f"attempt {attempt}: {status.value}: {e}")
            trajectory.record("error", status=status.value, error=str(e))
            result, patch = InstanceResult(instance_id=instance.instance_id, status=status, attempts=0, error=str(e)), ""
            if status is Status.IMAGE_MISSING:  # the pull already backed off; another try would fail alike
                break
        except Cancelled:
            raise
        except Exception as e:  # a bug in ATLAS: record it, do not retry it
            if session.cancel.is_set():
                raise Cancelled from None
            trajectory.record("error", status=Status.ERROR.value, error=traceback.format_exc())
            result, patch = InstanceResult(instance_id=instance.instance_id, status=Status.ERROR, attempts=0,
                                           error=f"{type(e).__name__}: {e}"), ""
            break
        finally:
            trajectory.close()
    result.attempts = attempt
    result.attempt_errors = errors
    return result, patch


def _best_of(session: Session, instance: Instance) -> tuple[InstanceResult, str]:
    """k candidate attempts under the budget (atlas.best_of), each in instances/<id>/candidates/c<j>/."""
    folder = session.run_dir.instance_dir(instance.instance_id)
    candidates = RunDir(folder)
    candidates.instances = folder / CANDIDATES_DIR  # attempt j's trajectory, patch and status in candidates/c<j>/

    def attempt(j: int, timeout: float, usd_left: float | None) -> tuple[InstanceResult, str]:
        member = session
        if usd_left is not None:  # the dollars left are this attempt's agent.cost_limit, checked before each call
            settings = session.config.agent.model_dump()
            limit = settings.get("cost_limit") or usd_left
            settings["cost_limit"] = max(1e-9, min(limit, usd_left))
            member = replace(session, agent=session.make_scaffold(settings))
        result, patch = _tries(member, instance, lambda a: candidates.prepare_attempt(f"c{j}", a), timeout)
        candidates.write_result(replace_id(result, f"c{j}"), patch)
        return result, patch

    def open_env() -> DockerEnvironment:
        return DockerEnvironment(instance.image_name(), session.config.env, session.labels(instance), session.client,
                                 lifetime_s=session.config.run.timeout + LIFETIME_MARGIN_S)

    session.run_dir.prepare_attempt(instance.instance_id, 1)  # drops a killed session's top-level trajectory
    shutil.rmtree(candidates.instances, ignore_errors=True)  # and its candidates: this instance starts over
    return solve_best_of(folder, session.config.run.best_of, session.config.run.timeout, session.cancel.is_set,
                         attempt, open_env)


def replace_id(result: InstanceResult, instance_id: str) -> InstanceResult:
    return result.model_copy(update={"instance_id": instance_id})


def solve(session: Session, instance: Instance) -> InstanceResult:
    """Run one instance to a final, recorded status (or raise Cancelled)."""
    started, t0 = now(), time.monotonic()
    if session.config.run.best_of.k > 1:
        result, patch = _best_of(session, instance)
    else:
        result, patch = _tries(session, instance, lambda a: session.run_dir.prepare_attempt(instance.instance_id, a),
                               session.config.run.timeout)
    result.started_at, result.finished_at = started, now()
    result.wall_seconds = round(time.monotonic() - t0, 3)
    session.run_dir.write_result(result, patch)
    return result


def solve_on_node(config: dict, instance: dict, run_dir: str, session_id: str,
                  make_scaffold: ScaffoldFactory) -> dict[str, str]:
    """A Ray task: run one instance on this node; return its files (name -> text)."""
    settings = validate(config)
    agent = make_scaffold(settings.agent.model_dump())
    model = MeteredModel(make_model(settings.model.model_dump(), scaffold=agent.name, gpu=settings.gpu,
                                    reply_format=agent.reply_format()))
    with tempfile.TemporaryDirectory(prefix="atlas-node-") as scratch:
        model.open(Path(scratch))
        try:
            session = Session(settings, RunDir(Path(scratch)), model, agent, docker_client(), make_scaffold,
                              id=session_id, label_run_dir=run_dir)
            result = solve(session, Instance.model_validate(instance))
        finally:
            model.close()
        folder = session.run_dir.instance_dir(result.instance_id)
        return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()) if path.is_file()}


def _pending(run_dir: RunDir, instances: list[Instance], rerun_errors: bool) -> list[Instance]:
    todo = []
    for instance in instances:
        result = run_dir.read_result(instance.instance_id)
        if result is None or (rerun_errors and result.status.is_infra_error):
            todo.append(instance)
    return todo


def _run_pool(session: Session, todo: list[Instance], progress: BatchProgress) -> None:
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


def _start_manifest(session: Session, instances: list[Instance], swept: int) -> dict:
    config, scaffold = session.config, session.agent.describe()
    manifest = open_manifest(session.run_dir, config, {
        "run_dir": str(session.run_dir.path),
        "dataset": {**config.dataset.model_dump(), "resolved_path": resolve_path(config.dataset),
                    **dataset_record(instances),  # its revision, and the columns derived on load
                    "instance_count": len(instances), "instance_ids": [i.instance_id for i in instances],
                    "instances": {i.instance_id: {"repo": i.repo, "difficulty": i.difficulty} for i in instances}},
        "model": session.model.describe(),
        "agent": scaffold,
        "limits": {"step_limit": scaffold.get("step_limit"), "instance_timeout_s": config.run.timeout,
                   "retries": config.run.retries, "env": config.env.model_dump()},
        "host": host_info(session.client.version().get("Version", "unknown")),
    })
    if swept:
        manifest["sessions"][-1]["stray_containers_removed"] = swept
    return manifest


def _finish_manifest(session: Session, manifest: dict, results: dict[str, InstanceResult]) -> None:
    manifest["sessions"][-1]["finished_at"] = now()
    manifest["images"] = {r.instance_id: {"name": r.image, "id": r.image_id} for r in results.values()}
    manifest["totals"] = {**_totals(results), **session.model.accounting()}
    write_manifest(session.run_dir, manifest)


def run(config: AtlasConfig, run_path: Path, make_scaffold: ScaffoldFactory) -> RunSummary:
    """One session of the run at `run_path` (created or resumed), driving the scaffold `make_scaffold` builds."""
    # bad input fails here, before the run directory or any container exists
    instances = select(load_instances(config.dataset), config.run)
    if config.run.evaluate and config.harness.enabled:  # refuse what cannot be graded before any work
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
        manifest = _start_manifest(session, instances, swept)
        if todo and config.dataset.source == "task_repo" and config.env.build_missing:
            try:
                build_task_images(client, resolve_path(config.dataset), todo, run_dir.path / "images",
                                  workers=config.run.workers)
            except EnvError as e:  # each instance without its image then ends as image_missing, not the run
                BatchProgress.warn(f"building the missing task images failed: {e}")
        stack.enter_context(stop_on_signals(lambda: _stop(session)))
        # preds.jsonl starts from what is finished and grows by one line per instance
        for member, pending in repeats:
            member.run_dir.write_predictions(model.name, exclude={i.instance_id for i in pending})
        try:
            for number, (member, pending) in enumerate(repeats, 1):
                label = f"repeat {number}/{len(repeats)}: " if len(repeats) > 1 else ""
                with BatchProgress(len(pending), len(instances) - len(pending), label=label) as progress:
                    _run_pool(member, pending, progress)
        finally:
            if session.cancel.is_set():  # a container a worker started during the stop
                remove_labeled(client, **{"atlas.session": session.id})
            results: dict[str, InstanceResult] = {}
            for number, (member, _) in enumerate(repeats, 1):
                member.run_dir.write_predictions(model.name)
                found = member.run_dir.results([i.instance_id for i in instances])
                results.update(found if len(repeats) == 1 else {f"r{number}/{k}": v for k, v in found.items()})
            _finish_manifest(session, manifest, results)
    return RunSummary(run_dir.path, [i.instance_id for i in instances], results)


def _totals(results: dict[str, InstanceResult]) -> dict:
    usage = sum((r.usage for r in results.values()), Usage())
    return {
        "finished": len(results),
        "by_status": {s.value: sum(r.status is s for r in results.values()) for s in Status if any(r.status is s for r in results.values())},
        "usage": usage.model_dump(),
        "cost_usd": sum(r.cost_usd for r in results.values()),
        "wall_seconds": round(sum(r.wall_seconds for r in results.values()), 3),
        "model_seconds": round(sum(r.model_seconds for r in results.values()), 3),
    }
