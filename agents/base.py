"""What every scaffold shares: its outcome record, prompt templates, and the run contract."""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from atlas.config import validate_section
from atlas.datasets import Instance
from atlas.environments import DockerEnvironment
from atlas.models import Model
from atlas.models.base import Usage
from atlas.records import Status
from atlas.trajectory import Trajectory


@dataclass
class AgentOutcome:
    status: Status
    steps: int = 0
    format_errors: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model_seconds: float = 0.0
    message: str = ""
    patch: str | None = None  # the patch the scaffold submitted itself; None: the runner takes `git diff`

    @property
    def submitted(self) -> bool:
        return self.status is Status.SUBMITTED


class Templates:
    """Jinja2 templates from a scaffold's template folder; missing variables are errors, not blanks."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def render(self, name: str, **variables: Any) -> str:
        # newlines only: spaces may be the indentation of an output's first line
        return self.env.get_template(f"{name}.j2").render(**variables).strip("\n")

    def hashes(self) -> dict[str, str]:
        """sha256 of each template file, for the manifest: a changed prompt is a different experiment."""
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.folder.glob("*.j2"))
        }


class Deadline:
    """The instance's wall-clock budget."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


class Scaffold(ABC):
    """A scaffold validates its `agent.*` settings (with a `templates` folder) against `settings_schema`."""

    name: str
    settings_schema: type[BaseModel]

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.settings = validate_section(self.settings_schema, config, prefix="agent.")
        self.templates = Templates(Path(self.settings.templates))

    @abstractmethod
    def run(
        self, model: Model, env: DockerEnvironment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        """Drive the model on one instance until it submits or a limit ends it.

        Raises ModelError / EnvError for infrastructure failures; every other ending
        is an AgentOutcome. The patch is taken afterwards from the container.
        """

    def reply_format(self) -> dict[str, str]:
        """How this scaffold's one-command replies look (`fence`, `submit`), for the scripted backends."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Settings and prompt hashes for the manifest."""
        return {**self.settings.model_dump(), "template_sha256": self.templates.hashes()}
