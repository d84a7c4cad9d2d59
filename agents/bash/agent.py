"""A bash-only agent loop: the model writes one fenced command per turn, sees its output, submits.

The history is linear and append-only (friendly to server-side prefix caching). The
patch is never typed by the model: once it submits, the runner takes `git diff` from
the container.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.base import AgentOutcome, Deadline, Scaffold, Templates
from atlas.config import validate_section
from atlas.datasets import Instance
from atlas.environments import DockerEnvironment
from atlas.models import Model
from atlas.models.base import ContextLimitError
from atlas.records import Status
from atlas.trajectory import Trajectory

ACTION_RE = re.compile(r"```bash[^\n]*\n(.*?)\n?```", re.DOTALL)
SUBMIT_SENTINEL = "ATLAS_SUBMIT"
TEMPLATES = Path(__file__).parent / "templates"


class BashAgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "bash"
    step_limit: int = Field(50, ge=1)
    format_error_limit: int = Field(3, ge=0)
    command_timeout: int = Field(120, ge=1)
    templates: str = Field(str(TEMPLATES), description="Folder of system/instance/observation/format_error .j2 files.")


class FormatError(ValueError):
    pass


def parse_action(text: str) -> str:
    """The single bash command in a model turn, or FormatError saying what was wrong."""
    blocks = ACTION_RE.findall(text)
    if len(blocks) != 1:
        raise FormatError(f"found {len(blocks)} ```bash blocks, expected exactly one")
    command = blocks[0].strip()
    if not command:
        raise FormatError("the ```bash block is empty")
    return command


class BashAgent(Scaffold):
    name = "bash"

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.settings = validate_section(BashAgentConfig, config, prefix="agent.")
        self.templates = Templates(Path(self.settings.templates))

    def describe(self) -> dict[str, Any]:
        return {**self.settings.model_dump(), "template_sha256": self.templates.hashes()}

    def run(
        self, model: Model, env: DockerEnvironment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        limits = self.settings
        outcome = AgentOutcome(status=Status.STEP_LIMIT)
        messages: list[dict[str, str]] = []

        def add(role: str, content: str, **meta: Any) -> None:
            messages.append({"role": role, "content": content})
            trajectory.message(role, content, **meta)

        add("system", self.templates.render("system", submit=SUBMIT_SENTINEL))
        add("user", self.templates.render("instance", instance=instance, submit=SUBMIT_SENTINEL))
        while True:
            if outcome.steps >= limits.step_limit:
                outcome.status = Status.STEP_LIMIT
                return outcome
            if deadline.expired():
                outcome.status = Status.TIMEOUT
                return outcome
            try:
                response = model.query(messages)
            except ContextLimitError as e:
                outcome.status, outcome.message = Status.CONTEXT_LIMIT, str(e)
                return outcome
            outcome.steps += 1
            outcome.usage += response.usage
            outcome.cost_usd += response.cost_usd
            outcome.model_seconds += response.latency_s
            add("assistant", response.content, step=outcome.steps, usage=response.usage.model_dump(),
                cost_usd=response.cost_usd, latency_s=response.latency_s, finish_reason=response.finish_reason,
                **response.extra)
            try:
                command = parse_action(response.content)
            except FormatError as e:
                outcome.format_errors += 1
                if outcome.format_errors > limits.format_error_limit:
                    outcome.status, outcome.message = Status.FORMAT_ERROR_LIMIT, str(e)
                    return outcome
                add("user", self.templates.render("format_error", error=str(e), submit=SUBMIT_SENTINEL), format_error=True)
                continue
            timeout = min(limits.command_timeout, max(1, deadline.remaining()))
            result = env.execute(command, timeout=timeout)
            trajectory.record("action", step=outcome.steps, command=command, exit_code=result.exit_code,
                              timed_out=result.timed_out, truncated=result.truncated,
                              duration_s=round(result.duration_s, 3), output=result.output)
            if result.output.lstrip().splitlines()[:1] == [SUBMIT_SENTINEL]:
                outcome.status = Status.SUBMITTED
                return outcome
            add("user", self.templates.render("observation", result=result, timeout=int(timeout)))
