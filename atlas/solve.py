"""One instance to a final, recorded status: an attempt in a fresh container, retried on infrastructure errors.

`solve` is what a worker calls per instance (a local thread, or a Ray task on its node). An
infrastructure failure (environment or model) is retried `run.retries` times and, if it
persists, recorded with its own status so it is never mistaken for an agent failure;
`run.best_of.k > 1` runs k candidate attempts and selects one (atlas.best_of).
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Callable

from atlas.best_of import CANDIDATES_DIR, solve_best_of
from atlas.datasets import Instance
from atlas.environments import DockerEnvironment, EnvError, ImageMissing
from atlas.environments.docker import LIFETIME_MARGIN_S
from atlas.image_store import ensure, fix_command, image_ref
from atlas.interfaces import Deadline
from atlas.manifest import now
from atlas.models import ModelError
from atlas.records import InstanceResult, Status
from atlas.rundir import RunDir
from atlas.session import Cancelled, Session
from atlas.trajectory import Trajectory


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
        format_errors=outcome.format_errors, format_error_kinds=outcome.format_error_kinds,
        usage=outcome.usage, cost_usd=outcome.cost_usd,
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


