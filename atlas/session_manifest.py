"""The run's manifest as a session writes it: opened with what the run is, closed with its totals."""

from __future__ import annotations

from atlas.dataset_record import dataset_record
from atlas.datasets import Instance, resolve_path
from atlas.manifest import host_info, now, open_manifest, write_manifest
from atlas.models import Usage
from atlas.records import InstanceResult, Status
from atlas.session import Session


def start_manifest(session: Session, instances: list[Instance], swept: int) -> dict:
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


def finish_manifest(session: Session, manifest: dict, results: dict[str, InstanceResult]) -> None:
    manifest["sessions"][-1]["finished_at"] = now()
    manifest["images"] = {r.instance_id: {"name": r.image, "id": r.image_id} for r in results.values()}
    manifest["totals"] = {**totals(results), **session.model.accounting()}
    write_manifest(session.run_dir, manifest)




def totals(results: dict[str, InstanceResult]) -> dict:
    usage = sum((r.usage for r in results.values()), Usage())
    return {
        "finished": len(results),
        "by_status": {s.value: sum(r.status is s for r in results.values()) for s in Status if any(r.status is s for r in results.values())},
        "usage": usage.model_dump(),
        "cost_usd": sum(r.cost_usd for r in results.values()),
        "wall_seconds": round(sum(r.wall_seconds for r in results.values()), 3),
        "model_seconds": round(sum(r.model_seconds for r in results.values()), 3),
    }
