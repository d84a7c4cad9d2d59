"""The contracts between the core and what plugs into it: Model, Environment, Scaffold.

The runner drives a Scaffold, which talks to a Model and acts in an Environment. All three
are structural (`typing.Protocol`): the core never imports a scaffold, and a scaffold needs
nothing from an environment beyond these methods. The CLI is the one place that picks the
concrete classes and hands them to the runner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from atlas.datasets import Instance
from atlas.models.base import ModelResponse, Usage
from atlas.records import Status
from atlas.trajectory import Trajectory


@dataclass
class ExecResult:
    """What one command did in an environment."""

    output: str
    exit_code: int
    duration_s: float
    timed_out: bool = False
    truncated: bool = False


class Deadline:
    """An instance's wall-clock budget, set by the runner and honoured by the scaffold."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass
class AgentOutcome:
    """How a scaffold's run on one instance ended; the patch is taken from the environment afterwards,
    unless the scaffold submitted one itself (mini-swe-agent's protocol: the output after the submit line)."""

    status: Status
    steps: int = 0
    format_errors: int = 0
    format_error_kinds: dict[str, int] = field(default_factory=dict)  # malformed replies by kind (no_action, ...)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model_seconds: float = 0.0
    message: str = ""
    patch: str | None = None  # the patch the scaffold submitted itself; None: the runner takes `env.diff`

    @property
    def submitted(self) -> bool:
        return self.status is Status.SUBMITTED


@runtime_checkable
class Model(Protocol):
    """What a scaffold may ask of a model: one assistant turn for the conversation so far."""

    @property
    def name(self) -> str: ...

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse: ...


@runtime_checkable
class Environment(Protocol):
    """Where an agent's commands run: one sandbox per instance, its repository at `workdir`."""

    image: str
    image_id: str

    def execute(self, command: str, timeout: float) -> ExecResult:
        """Run a shell command; a command past `timeout` is killed and reported as timed out."""
        ...

    def diff(self, base_commit: str) -> str:
        """Every change against `base_commit`, new files included, as a unified diff."""
        ...


@runtime_checkable
class Scaffold(Protocol):
    """An agent loop: drives a model on one instance until it submits or a limit ends it."""

    name: str

    def run(self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory,
            deadline: Deadline) -> AgentOutcome:
        """Raise ModelError / EnvError for infrastructure failures; every other ending is an AgentOutcome."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings and prompt-template hashes, for the manifest."""
        ...

    def reply_format(self) -> dict[str, str]:
        """How its one-command replies look (`fence`, `submit`), for the scripted backends; {} if no such format."""
        ...


# builds the scaffold that `agent.*` names; the CLI passes one to the runner
ScaffoldFactory = Callable[[dict[str, Any]], Scaffold]
