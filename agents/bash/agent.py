"""A bash-only agent loop: the model writes one fenced command per turn, sees its output, submits.

The reply is read by agents/bash/reply.py (other shell fences and tool calls written in the
text are taken where unambiguous; other replies get a named format error). The history
is linear and append-only (friendly to server-side prefix caching). The patch is never
typed by the model: once it submits, the runner takes `git diff` from the container.
Limits, context policy and accounting come from atlas.agents.conversation.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from atlas.agents.base import Scaffold
from atlas.agents.bash.reply import ShellAction, example_commands, parse_action
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.observation import record_action, run_action
from atlas.agents.replies import ReplyFormatError
from atlas.datasets import Instance
from atlas.interfaces import AgentOutcome, Deadline, Environment
from atlas.models import Model
from atlas.records import Status
from atlas.trajectory import Trajectory

SUBMIT_SENTINEL = "ATLAS_SUBMIT"
TEMPLATES = Path(__file__).parent / "templates"


class BashAgentConfig(ScaffoldSettings):
    name: str = "bash"
    templates: str = Field(str(TEMPLATES), description="Folder of system/instance/observation/format_error .j2 files.")


class BashAgent(Scaffold):
    name = "bash"
    settings_schema = BashAgentConfig

    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        chat = Conversation(self.settings, trajectory, deadline)
        render = self.templates.render
        system = render("system", submit=SUBMIT_SENTINEL)
        chat.start(system, render("instance", instance=instance, submit=SUBMIT_SENTINEL))
        placeholders = example_commands(system, render("format_error", error="", submit=SUBMIT_SENTINEL))
        while (response := chat.ask(model)) is not None:
            try:
                action = parse_action(response.content, placeholders)
            except ReplyFormatError as e:
                if chat.meter.format_error(e.kind):
                    return chat.meter.end(Status.FORMAT_ERROR_LIMIT, f"{e.kind}: {e}")
                chat.add("user", render("format_error", error=str(e), submit=SUBMIT_SENTINEL), format_error=True,
                         format_error_kind=e.kind)
                continue
            command = action.command
            if (loop := chat.meter.act(command)) is not None:
                return chat.meter.end(loop, f"the same command {chat.meter.repeats} times in a row: {command[:200]}")
            result = run_action(env, chat.meter, command)
            record_action(trajectory, chat.meter.outcome.steps, result.result, command, **_form(action))
            if result.result.output.lstrip().splitlines()[:1] == [SUBMIT_SENTINEL]:
                return chat.meter.end(Status.SUBMITTED)
            chat.add("user", render("observation", result=result.result, timeout=result.timeout))
        return chat.meter.outcome


def _form(action: ShellAction) -> dict[str, str]:
    """The trajectory notes how a command was written when it was not the ```bash block asked for."""
    return {} if action.form == "fence:bash" else {"action_form": action.form}
