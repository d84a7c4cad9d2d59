"""A tool-calling agent loop: native tool calls against bash, a file viewer, an editor, search and submit.

Each turn the model calls one or more tools (agents/tools/schemas.py); every call gets a
tool result -- the output, or an error message when its arguments do not fit the schema
or the tool fails (a missing file, text that matches twice). Calls the server left in
the reply's text are taken as calls (agents/tools/reply.py); a turn that calls no tool
gets a named format error message. File tools run in the container through the workspace
helper; the patch is taken with `git diff` after `submit`, as for every scaffold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from atlas.agents.base import Scaffold
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.observation import Action, record_action, run_action
from atlas.agents.replies import ReplyFormatError, content_tool_calls, text_without_calls
from atlas.agents.tools.reply import calls_in_text
from atlas.agents.tools.schemas import TOOLS, ToolArgumentError, parse_call, tools_sha256
from atlas.agents.workspace import Workspace
from atlas.datasets import Instance
from atlas.interfaces import AgentOutcome, Deadline, Environment, ExecResult
from atlas.models import Model
from atlas.models.base import ToolCall
from atlas.records import Status
from atlas.trajectory import Trajectory

TEMPLATES = Path(__file__).parent / "templates"


class ToolsAgentConfig(ScaffoldSettings):
    name: str = "tools"
    view_window: int = Field(100, ge=1, description="Lines the viewer shows when no end_line is given.")
    templates: str = Field(str(TEMPLATES), description="Folder of the scaffold's .j2 prompts.")


class ToolsAgent(Scaffold):
    name = "tools"

    settings_schema = ToolsAgentConfig

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tools_sha256": tools_sha256()}

    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        chat = Conversation(self.settings, trajectory, deadline)
        workspace = Workspace(env)
        chat.start(self.templates.render("system"), self.templates.render("instance", instance=instance))
        while (response := chat.ask(model, TOOLS)) is not None:
            tool_calls = response.tool_calls
            if not tool_calls:
                try:
                    tool_calls = self._calls_from_text(response.content, chat)
                except ReplyFormatError as e:
                    if chat.meter.format_error(e.kind):
                        return chat.meter.end(Status.FORMAT_ERROR_LIMIT, f"{e.kind}: the model answered without "
                                                                         "calling a tool")
                    chat.add("user", self.templates.render("format_error", error=str(e)), format_error=True,
                             format_error_kind=e.kind)
                    continue
            calls = json.dumps([[c.name, c.arguments] for c in tool_calls])
            if (loop := chat.meter.act(calls)) is not None:
                return chat.meter.end(loop, f"the same tool calls {chat.meter.repeats} times in a row: {calls[:200]}")
            for call in tool_calls:
                if call.name == "submit":
                    record_action(trajectory, chat.meter.outcome.steps, ExecResult("", 0, 0.0), "submit", tool="submit")
                    return chat.meter.end(Status.SUBMITTED)
                chat.add_tool_result(call.id, self._perform(call, env, workspace, chat))
        return chat.meter.outcome

    @staticmethod
    def _calls_from_text(content: str, chat: Conversation) -> list[ToolCall]:
        """Tool calls the reply wrote in its text (agents/tools/reply.py), moved into the history's own
        `tool_calls` so the tool results that follow answer a call, as every API requires."""
        calls = calls_in_text(content, chat.meter.outcome.steps)
        chat.messages[-1] = {**chat.messages[-1], "content": text_without_calls(content),
                             "tool_calls": [{"id": c.id, "type": "function",
                                             "function": {"name": c.name, "arguments": c.arguments}}
                                            for c in calls]}
        chat.trajectory.record("tool_calls_from_text", step=chat.meter.outcome.steps,
                               forms=sorted({call.form for call in content_tool_calls(content)}),
                               tool_calls=chat.messages[-1]["tool_calls"])
        return calls

    def _perform(self, call: ToolCall, env: Environment, workspace: Workspace, chat: Conversation) -> str:
        """Run one tool call; the returned text is its tool result, an error message included."""
        step = chat.meter.outcome.steps
        try:
            args = parse_call(call.name, call.arguments)
        except ToolArgumentError as e:
            chat.trajectory.record("tool_error", step=step, tool=call.name, arguments=call.arguments, error=str(e))
            return self.templates.render("tool_error", error=str(e))
        if call.name == "bash":
            command, action = args["command"], run_action(env, chat.meter, args["command"])
        else:
            request = {**args, "window": self.settings.view_window} if call.name == "view" else args
            timeout = chat.meter.command_timeout()
            command = f"{call.name} {json.dumps(args, ensure_ascii=False)}"
            action = Action(workspace.call(call.name, request, timeout), timeout)
        record_action(chat.trajectory, step, action.result, command, tool=call.name, arguments=args)
        return self.templates.render("observation", tool=call.name, result=action.result, timeout=action.timeout)
