"""`agent=mini`: the SWE-bench bash-only leaderboard's protocol (mini-swe-agent) on ATLAS's backends and containers.

The loop is mini-swe-agent's DefaultAgent: system and instance messages from its
templates, one regex-parsed command per reply, the output rendered by its observation
template, its format-error message for a reply without exactly one command, and the
submission when a command's first output line is COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT
(the text after that line is the patch). Templates, regex and limits come from the
installed package's config file (agents/mini/protocol.py); only what ATLAS must own --
the model backend, the Docker container, accounting, the instance's wall clock and the
context policy -- is ATLAS's. Its `step_limit`, `cost_limit`, `command_timeout` and
format-error limit default to the config's values; set them to override, and the
manifest records what ran.

Where ATLAS differs from mini itself, on purpose: commands run with `bash -lc` in ATLAS's
container (mini 2.x's config uses `bash -c`); a timed-out command's `exception_info`
names the timeout but not mini's docker argv; and a submission longer than
`env.max_output_chars` is taken from the container's `git diff` instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from atlas.agents.base import Scaffold
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.mini.protocol import SUBMIT_COMMAND, Protocol, load_protocol, restore_output
from atlas.agents.observation import record_action, run_action
from atlas.agents.replies import format_error_kind
from atlas.config import validate_section
from atlas.datasets import Instance
from atlas.interfaces import AgentOutcome, Deadline, Environment
from atlas.models import Model
from atlas.records import Status
from atlas.trajectory import Trajectory

UNLIMITED = 1_000_000  # "never", for a limit mini's protocol does not have


class MiniAgentConfig(ScaffoldSettings):
    name: str = "mini"
    mini_config: str | None = Field(None, description="Config file inside mini-swe-agent's config folder; null: "
                                                      "the SWE-bench config of the installed major version.")
    # null: the value of mini's config (step_limit, cost_limit, environment.timeout, max_consecutive_format_errors)
    step_limit: int | None = Field(None, ge=1)
    cost_limit: float | None = Field(None, ge=0)
    command_timeout: int | None = Field(None, ge=1)
    format_error_limit: int | None = Field(None, ge=0)


class MiniAgent(Scaffold):
    name = "mini"
    settings_schema = MiniAgentConfig

    def __init__(self, config: dict[str, Any]):
        # no Jinja folder of ATLAS's own: the templates are mini-swe-agent's
        self.config = config
        requested = validate_section(MiniAgentConfig, config, prefix="agent.")
        self.protocol: Protocol = load_protocol(requested.mini_config)
        self.settings = requested.model_copy(update=self._protocol_limits(requested))

    def _protocol_limits(self, requested: MiniAgentConfig) -> dict[str, Any]:
        p = self.protocol
        # mini ends the run at the N-th malformed reply in a row; ATLAS's limit counts those tolerated
        errors = p.consecutive_format_errors - 1 if p.consecutive_format_errors > 0 else UNLIMITED
        defaults = {"step_limit": p.step_limit or UNLIMITED, "cost_limit": p.cost_limit,
                    "command_timeout": p.command_timeout, "format_error_limit": errors}
        return {key: value for key, value in defaults.items() if getattr(requested, key) is None}

    def reply_format(self) -> dict[str, str]:
        return {"fence": self.protocol.fence, "submit": SUBMIT_COMMAND}

    def describe(self) -> dict[str, Any]:
        settings = self.settings.model_dump()
        return {**settings, "mini_swe_agent": self.protocol.describe(),
                "template_sha256": {f"mini-swe-agent:{self.protocol.config_file}": self.protocol.config_sha256}}

    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        protocol = self.protocol
        chat = Conversation(self.settings, trajectory, deadline)
        # mini's templates may name the working directory; ATLAS's Docker environment keeps it in its config
        cwd = getattr(getattr(env, "config", None), "workdir", "/testbed")
        variables = protocol.template_vars(cwd=cwd, timeout=self.settings.command_timeout)
        system, task = protocol.first_messages(instance.problem_statement, variables)
        chat.start(system["content"], task["content"])
        while (response := chat.ask(model)) is not None:
            command, error = protocol.parse(response.content, response.finish_reason, variables)
            if command is None:
                if not protocol.keeps_malformed_replies:
                    chat.messages.pop()  # the model no longer sees it; the trajectory keeps it
                # mini's own message goes to the model; the kind is ATLAS's, for the trajectory and the counts
                kind = format_error_kind(response.content, protocol.fence, protocol.count_actions(response.content))
                chat.add("user", error, format_error=True, format_error_kind=kind)
                if chat.meter.format_error(kind):
                    return chat.meter.end(Status.FORMAT_ERROR_LIMIT, f"{kind}: malformed replies in a row")
                continue
            if (loop := chat.meter.act(command)) is not None:
                return chat.meter.end(loop, f"the same command {chat.meter.repeats} times in a row: {command[:200]}")
            action = run_action(env, chat.meter, command)
            result = action.result
            record_action(trajectory, chat.meter.outcome.steps, result, command)
            output = restore_output(result.output, result.truncated)
            submission = protocol.submission(output, result.exit_code)
            if submission is not None:
                outcome = chat.meter.end(Status.SUBMITTED)
                # a cut submission is no patch: the runner's `git diff` of the container stands in
                outcome.patch = None if result.truncated else submission
                return outcome
            chat.add("user", protocol.observation(command, output, result.exit_code, result.timed_out,
                                                  action.timeout, variables))
        return chat.meter.outcome
