"""A bash-only agent loop: the model writes one fenced command per turn, sees its output, submits.

The history is linear and append-only (friendly to server-side prefix caching). The
patch is never typed by the model: once it submits, the runner takes `git diff` from
the container. Limits, context policy and accounting come from atlas.agents.conversation.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from atlas.agents.base import Scaffold
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.observation import record_action, run_action
from atlas.datasets import Instance
from atlas.interfaces import AgentOutcome, Deadline, Environment
from atlas.models import Model
from atlas.records import Status
from atlas.trajectory import Trajectory

ACTION_RE = re.compile(r"```bash[^\n]*\n(.*?)\n?```", re.DOTALL)
SUBMIT_SENTINEL = "ATLAS_SUBMIT"
TEMPLATES = Path(__file__).parent / "templates"


class BashAgentConfig(ScaffoldSettings):
    name: str = "bash"
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
    settings_schema = BashAgentConfig

    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        chat = Conversation(self.settings, trajectory, deadline)
        render = self.templates.render
        chat.start(render("system", submit=SUBMIT_SENTINEL),
                   render("instance", instance=instance, submit=SUBMIT_SENTINEL))
        while (response := chat.ask(model)) is not None:
            try:
                command = parse_action(response.content)
            except FormatError as e:
                if chat.meter.format_error():
                    return chat.meter.end(Status.FORMAT_ERROR_LIMIT, str(e))
                chat.add("user", render("format_error", error=str(e), submit=SUBMIT_SENTINEL), format_error=True)
                continue
            if (loop := chat.meter.act(command)) is not None:
                return chat.meter.end(loop, f"the same command {chat.meter.repeats} times in a row: {command[:200]}")
            action = run_action(env, chat.meter, command)
            record_action(trajectory, chat.meter.outcome.steps, action.result, command)
            if action.result.output.lstrip().splitlines()[:1] == [SUBMIT_SENTINEL]:
                return chat.meter.end(Status.SUBMITTED)
            chat.add("user", render("observation", result=action.result, timeout=action.timeout))
        return chat.meter.outcome
