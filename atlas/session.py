"""One session of a run directory: what every worker of it shares, and how it is told to stop."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from atlas.config import AtlasConfig
from atlas.datasets import Instance
from atlas.interfaces import Scaffold, ScaffoldFactory
from atlas.models.metering import MeteredModel
from atlas.records import InstanceResult
from atlas.rundir import RunDir


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
