"""What every bundled scaffold shares: prompt templates, settings validation, and the run contract."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from atlas.config import validate_section
from atlas.datasets import Instance
from atlas.interfaces import AgentOutcome, Deadline, Environment, Model
from atlas.trajectory import Trajectory


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


class Scaffold(ABC):
    """The base of the bundled scaffolds (each satisfies atlas.interfaces.Scaffold). A scaffold validates its `agent.*` settings (with a `templates` folder) against `settings_schema`."""

    name: str
    settings_schema: type[BaseModel]

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.settings = validate_section(self.settings_schema, config, prefix="agent.")
        self.templates = Templates(Path(self.settings.templates))

    @abstractmethod
    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
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


__all__ = ["Scaffold", "Templates"]
