"""A Ray task: one instance solved on a cluster node, its files handed back to the driver (atlas.executors)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from atlas.config import validate
from atlas.datasets import Instance
from atlas.environments import docker_client
from atlas.interfaces import ScaffoldFactory
from atlas.models import make_model
from atlas.models.metering import MeteredModel
from atlas.rundir import RunDir
from atlas.session import Session
from atlas.solve import solve


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


