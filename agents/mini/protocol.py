"""mini-swe-agent's SWE-bench protocol, read from the installed `mini-swe-agent` package.

The SWE-bench bash-only leaderboard runs every model through mini-swe-agent with its
`swebench` config: a system and an instance template, a regex that takes the one shell
command out of a reply, an observation template, a format-error template, a step and a
cost limit. Nothing here is copied: the YAML file is loaded from the installed package
(`pip install 'atlas-swe[mini]'`), and its name, sha256 and the package version go to the
manifest.

Two generations of the protocol exist, and the board's entries name the version they used:
- 1.x (`config/extra/swebench.yaml`): templates and `action_regex` (```bash) under `agent:`;
  the action's output is rendered by `action_observation_template`; a timed-out command by
  `timeout_template`; format errors never end the run; the first output line
  `COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT` (or 1.0's `MINI_SWE_AGENT_FINAL_OUTPUT`) submits.
- 2.x (`config/benchmarks/swebench_backticks.yaml`, its text-based SWE-bench config):
  `observation_template`, `format_error_template` and `action_regex` (```mswea_bash_command)
  under `model:`; `max_consecutive_format_errors` (default 3) ends the run; the submit line
  only counts when the command exits 0.

`Protocol` holds whichever the installed package has, behind one interface.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import yaml

from atlas.config import ConfigError

PACKAGE = "mini-swe-agent"
SUBMIT_LINE = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
V1_SUBMIT_LINES = ("MINI_SWE_AGENT_FINAL_OUTPUT", SUBMIT_LINE)  # 1.x accepts both
V1_ACTION_REGEX = r"```bash\s*\n(.*?)\n```"  # 1.0-1.12 hard-code it; later 1.x make it a setting
# the config each major version runs SWE-bench with (relative to minisweagent/config/)
DEFAULT_CONFIGS = {1: "extra/swebench.yaml", 2: "benchmarks/swebench_backticks.yaml"}
# the command a scripted reply submits with: valid in both generations (1.x's own submit command)
SUBMIT_COMMAND = f"echo {SUBMIT_LINE} && git add -A && git diff --cached"


def installed_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            "agent=mini needs the mini-swe-agent package: pip install 'atlas-swe[mini]' "
            "(or 'mini-swe-agent<2' to reproduce a 1.x leaderboard entry)") from None


def major_minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a version string such as '1.17.2' or 'v2.0.0'; None if it has none."""
    match = re.match(r"v?(\d+)\.(\d+)", str(version or ""))
    return (int(match[1]), int(match[2])) if match else None


def config_dir() -> Path:
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")  # no banner on the run's console
    from minisweagent.config import builtin_config_dir

    return Path(builtin_config_dir)


def _render(template: str, **variables: Any) -> str:
    # as mini-swe-agent renders: a fresh Template, undefined variables are errors
    return jinja2.Template(template, undefined=jinja2.StrictUndefined).render(**variables)


class ElidedOutput(str):
    """An output ATLAS's environment cut to its head and tail, that still says its full length.

    mini's templates show outputs of 10,000+ characters as their first and last 5,000 and
    the count of the rest; `env.max_output_chars=10000` keeps exactly those, so the text
    shown is the same, with `length` the original one.
    """

    def __new__(cls, kept: str, full_length: int):
        text = super().__new__(cls, kept)
        text.full_length = full_length
        return text

    def __len__(self) -> int:
        return self.full_length


_ELIDED = re.compile(r"\n\[\.\.\. (\d+) characters elided \.\.\.\]\n")


def restore_output(output: str, truncated: bool) -> str:
    """The output as mini's templates must see it, from what ATLAS's environment returned."""
    if not truncated:
        return output
    match = _ELIDED.search(output)
    if match is None:
        return output
    kept = output[:match.start()] + output[match.end():]
    return ElidedOutput(kept, len(kept) + int(match[1]))


@dataclass
class Protocol:
    """One version's protocol: templates, regex, limits and submission rule, from its config file."""

    version: str
    generation: int  # 1 or 2
    config_file: str  # relative to minisweagent/config/
    config_sha256: str
    config: dict[str, Any] = field(repr=False)

    @property
    def agent(self) -> dict[str, Any]:
        return self.config.get("agent") or {}

    @property
    def model(self) -> dict[str, Any]:
        return self.config.get("model") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return self.config.get("environment") or {}

    @property
    def action_regex(self) -> str:
        if self.generation == 1:
            return self.agent.get("action_regex", V1_ACTION_REGEX)  # 1.0-1.12 have no setting: their hard-coded one
        return self.model["action_regex"]

    @property
    def fence(self) -> str:
        """The code-fence label replies must use (`bash`, `mswea_bash_command`)."""
        match = re.match(r"```(\w+)", self.action_regex)
        return match[1] if match else "bash"

    @property
    def keeps_malformed_replies(self) -> bool:
        """1.x keeps a reply without exactly one command in the history; 2.x sends only the error message."""
        return self.generation == 1

    @property
    def step_limit(self) -> int:
        return int(self.agent.get("step_limit", 0))

    @property
    def cost_limit(self) -> float:
        return float(self.agent.get("cost_limit", 3.0))

    @property
    def command_timeout(self) -> int:
        return int(self.environment.get("timeout", 30))

    @property
    def consecutive_format_errors(self) -> int:
        """Consecutive malformed replies that end the run; 0 = never (1.x)."""
        return 0 if self.generation == 1 else int(self.agent.get("max_consecutive_format_errors", 3))

    def template_vars(self, cwd: str, timeout: int) -> dict[str, Any]:
        """What mini's templates may use besides `task`: the agent settings and the environment's."""
        return {**self.agent, **self.environment, "cwd": cwd, "timeout": timeout}

    def first_messages(self, task: str, variables: dict[str, Any]) -> list[dict[str, str]]:
        variables = {**variables, "task": task}
        return [{"role": "system", "content": _render(self.agent["system_template"], **variables)},
                {"role": "user", "content": _render(self.agent["instance_template"], **variables)}]

    def count_actions(self, content: str) -> int:
        return len(re.findall(self.action_regex, content, re.DOTALL))

    def parse(self, content: str, finish_reason: str, variables: dict[str, Any]) -> tuple[str | None, str]:
        """(the one command, "") or (None, the format-error message mini would send)."""
        actions = [a.strip() for a in re.findall(self.action_regex, content, re.DOTALL)]
        if len(actions) == 1:
            return actions[0], ""
        if self.generation == 1:
            return None, _render(self.agent["format_error_template"], **{**variables, "actions": actions})
        error = f"Expected exactly 1 action, found {len(actions)}."
        return None, _render(self.model["format_error_template"], actions=actions, error=error,
                             finish_reason=finish_reason)

    def observation(self, command: str, output: str, exit_code: int, timed_out: bool, timeout: int,
                    variables: dict[str, Any]) -> str:
        if self.generation == 1:
            if timed_out:
                return _render(self.agent["timeout_template"], **variables,
                               action={"action": command}, output=output)
            return _render(self.agent["action_observation_template"], **variables,
                           output={"output": output, "returncode": exit_code, "action": command})
        exception = (f"An error occurred while executing the command: Command timed out after {timeout} seconds"
                     if timed_out else "")
        result = {"output": output, "returncode": -1 if timed_out else exit_code, "exception_info": exception}
        return _render(self.model["observation_template"], **variables, output=result)

    def submission(self, output: str, exit_code: int) -> str | None:
        """The submitted text (the output after the submit line), or None when the command did not submit."""
        lines = output.lstrip().splitlines(keepends=True)
        if not lines:
            return None
        if self.generation == 1:
            return "".join(lines[1:]) if lines[0].strip() in V1_SUBMIT_LINES else None
        return "".join(lines[1:]) if lines[0].strip() == SUBMIT_LINE and exit_code == 0 else None

    def describe(self) -> dict[str, Any]:
        return {"package": PACKAGE, "version": self.version, "protocol_version": f"{self.generation}.x",
                "config_file": self.config_file, "config_sha256": self.config_sha256,
                "action_regex": self.action_regex}


def class_defaults(generation: int, config: dict[str, Any]) -> dict[str, Any]:
    """The config file over the defaults of mini's own classes, as mini builds its agent and model.

    A setting a config file leaves out (1.x's swebench.yaml has no `timeout_template`; 2.x's
    text-based one no `action_regex`) takes the default of the installed package's class.
    """
    from minisweagent.agents.default import AgentConfig

    if generation == 1:
        agent = {f.name: f.default for f in dataclasses.fields(AgentConfig)
                 if f.default is not dataclasses.MISSING}
        return {**config, "agent": {**agent, **(config.get("agent") or {})}}
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no price-list download at import
    from minisweagent.models.litellm_textbased_model import LitellmTextbasedModelConfig

    def defaults(schema: Any) -> dict[str, Any]:
        return {k: f.default for k, f in schema.model_fields.items() if not f.is_required()}

    return {**config, "agent": {**defaults(AgentConfig), **(config.get("agent") or {})},
            "model": {**defaults(LitellmTextbasedModelConfig), **(config.get("model") or {})}}


def load_protocol(config_file: str | None = None) -> Protocol:
    """The installed mini-swe-agent's protocol; `config_file` (relative to its config folder) picks another."""
    version = installed_version()
    generation = (major_minor(version) or (0, 0))[0]
    if generation not in DEFAULT_CONFIGS:
        raise ConfigError(f"mini-swe-agent {version} is installed; agent=mini reproduces 1.x and 2.x: "
                          "pip install 'mini-swe-agent>=1,<3'")
    name = config_file or DEFAULT_CONFIGS[generation]
    path = config_dir() / name
    if not path.is_file():
        raise ConfigError(f"agent.mini_config: {name} is not a config file of mini-swe-agent {version} "
                          f"(looked in {config_dir()}); leave it null for {DEFAULT_CONFIGS[generation]}")
    raw = path.read_bytes()
    config = class_defaults(generation, yaml.safe_load(raw) or {})
    protocol = Protocol(version, generation, name, hashlib.sha256(raw).hexdigest(), config)
    required = (["system_template", "instance_template", "format_error_template",
                 "action_observation_template", "timeout_template"] if generation == 1
                else ["system_template", "instance_template"])
    missing = [k for k in required if k not in protocol.agent]
    if generation == 2:
        missing += [f"model.{k}" for k in ("observation_template", "format_error_template") if k not in protocol.model]
        if "```" not in str(protocol.agent.get("instance_template", "")):
            missing.append("a fenced-action protocol (its instance template shows no ``` block: it asks for tool calls)")
    if missing:
        raise ConfigError(f"agent.mini_config: {name} (mini-swe-agent {version}) lacks {', '.join(missing)}; "
                          "agent=mini runs mini's text-based protocol: pick a config with a regex-parsed action, "
                          f"e.g. {DEFAULT_CONFIGS[generation]}")
    return protocol
