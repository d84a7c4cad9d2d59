"""agent=mini speaks mini-swe-agent's protocol: the same messages, the same parsed actions, as mini itself.

mini-swe-agent's own DefaultAgent is driven with a deterministic model (its real
text-based model class, with the API call replaced) and an environment whose commands
return canned outputs; ATLAS's MiniAgent is driven with the same replies and outputs.
Every list of messages each sends to the model must be equal, role and text, and so must
the parsed command of each reply and the submission. The installed package decides the
generation (1.x or 2.x) tested.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: litellm's bundled price list
pytest.importorskip("minisweagent", reason="agent=mini needs mini-swe-agent: pip install -e '.[test]'")

from atlas.interfaces import Deadline, ExecResult  # noqa: E402
from atlas.agents.mini.agent import MiniAgent  # noqa: E402
from atlas.agents.mini.protocol import SUBMIT_LINE, load_protocol  # noqa: E402
from atlas.config import DatasetConfig, EnvConfig  # noqa: E402
from atlas.datasets import Instance, load_instances  # noqa: E402
from atlas.environments.docker import truncate  # noqa: E402
from atlas.models.base import ModelResponse  # noqa: E402
from atlas.models.deterministic import ScriptedModel  # noqa: E402
from atlas.records import Status  # noqa: E402
from atlas.trajectory import Trajectory  # noqa: E402

PROTOCOL = load_protocol()
FENCE = PROTOCOL.fence
PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
SUBMIT = f"echo {SUBMIT_LINE} && git add -A && git diff --cached"
# command -> (output, exit code): what the container "prints"
OUTPUTS = {
    "ls": ("README.md\nx.py\n", 0),
    "python3 -c 'print(1/0)'": ("Traceback (most recent call last):\nZeroDivisionError: division by zero\n", 1),
    "cat big.log": ("".join(f"line {i:06d}\n" for i in range(1500)), 0),  # 18,000 chars: head and tail only
    SUBMIT: (f"{SUBMIT_LINE}\n{PATCH}", 0),
}
REPLIES = [
    f"THOUGHT: look around first.\n\n```{FENCE}\nls\n```",
    "I will just describe what to do, no command.",  # a format error
    f"Two at once:\n```{FENCE}\nls\n```\n```{FENCE}\npwd\n```",  # another
    f"THOUGHT: reproduce.\n\n```{FENCE}\npython3 -c 'print(1/0)'\n```",
    f"THOUGHT: a long log.\n\n```{FENCE}\ncat big.log\n```\nThat is all.",
    f"THOUGHT: done.\n\n```{FENCE}\n{SUBMIT}\n```",
]


def sample_instance() -> Instance:
    config = DatasetConfig(name="sample", source="task_repo", path="bundled", split="test")
    return next(i for i in load_instances(config) if i.instance_id == "atlas-samples__minicsv-1")


# ------------------------------------------------------------------ ATLAS's side


class FakeContainer:
    """What MiniAgent needs of DockerEnvironment, with ATLAS's own output truncation."""

    def __init__(self):
        self.config = EnvConfig()
        self.commands: list[str] = []

    def execute(self, command: str, timeout: float) -> ExecResult:
        self.commands.append(command)
        output, code = OUTPUTS[command]
        text, cut = truncate(output, self.config.max_output_chars)
        return ExecResult(text, code, 0.01, False, cut)


class RecordingModel(ScriptedModel):
    def __init__(self, replies: list[str]):
        super().__init__({"name": "fake", "backend": "scripted"}, replies)
        self.sent: list[list[tuple[str, str]]] = []

    def query(self, messages, tools=None) -> ModelResponse:
        self.sent.append([(m["role"], m["content"]) for m in messages])
        return super().query(messages, tools)


def run_atlas(tmp_path: Path) -> tuple[Any, RecordingModel, FakeContainer]:
    model, env = RecordingModel(REPLIES), FakeContainer()
    trajectory = Trajectory(tmp_path / "trajectory.jsonl")
    outcome = MiniAgent({"name": "mini"}).run(model, env, sample_instance(), trajectory, Deadline(600))
    trajectory.close()
    return outcome, model, env


# ------------------------------------------------------------------ mini-swe-agent's side


def run_mini() -> tuple[dict, list[list[tuple[str, str]]], list[str]]:
    if PROTOCOL.generation == 1:
        return run_mini_v1()
    return run_mini_v2()


def run_mini_v2():
    import litellm
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.environments.docker import DockerEnvironment, DockerEnvironmentConfig
    from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel

    sent: list[list[tuple[str, str]]] = []
    replies = iter(REPLIES)

    class Model(LitellmTextbasedModel):
        def _query(self, messages, **kwargs):  # the API call, and nothing else, is replaced
            sent.append([(m["role"], m["content"]) for m in messages])
            return litellm.ModelResponse(choices=[{"message": {"role": "assistant", "content": next(replies)},
                                                   "finish_reason": "stop"}])

    commands: list[str] = []

    class Env(DockerEnvironment):
        def __init__(self, **kwargs):  # no container: canned outputs, mini's own submission check
            self.config = DockerEnvironmentConfig(image="none", **kwargs)
            self.container_id = None

        def execute(self, action, cwd="", *, timeout=None):
            commands.append(action["command"])
            output, code = OUTPUTS[action["command"]]
            result = {"output": output, "returncode": code, "exception_info": ""}
            self._check_finished(result)
            return result

    env_config = {k: v for k, v in PROTOCOL.environment.items() if k != "environment_class"}
    model = Model(**{**PROTOCOL.model, "model_name": "fake/model", "cost_tracking": "ignore_errors"})
    agent = DefaultAgent(model, Env(**env_config), **PROTOCOL.agent)
    info = agent.run(task=sample_instance().problem_statement)
    return info, sent, commands


def run_mini_v1():
    from minisweagent.agents.default import DefaultAgent

    sent: list[list[tuple[str, str]]] = []
    replies = iter(REPLIES)
    commands: list[str] = []

    class Model:
        n_calls, cost = 0, 0.0

        def query(self, messages, **kwargs):
            sent.append([(m["role"], m["content"]) for m in messages])
            self.n_calls += 1
            return {"content": next(replies)}

        def get_template_vars(self):
            return {}

    class Env:
        def execute(self, command, cwd="", *, timeout=None):
            commands.append(command)
            output, code = OUTPUTS[command]
            return {"output": output, "returncode": code}

        def get_template_vars(self):
            return dict(PROTOCOL.environment)

    agent = DefaultAgent(Model(), Env(), **PROTOCOL.agent)
    status, submission = agent.run(sample_instance().problem_statement)
    return {"exit_status": status, "submission": submission}, sent, commands


# ------------------------------------------------------------------ the tests


def test_atlas_sends_the_messages_mini_sends_and_runs_the_commands_it_parses(tmp_path):
    info, mini_sent, mini_commands = run_mini()
    outcome, atlas_model, atlas_env = run_atlas(tmp_path)
    assert len(mini_sent) == len(REPLIES)  # every reply was asked for, by both
    assert atlas_model.sent[:2] == mini_sent[:2]  # the first messages: system and task
    assert atlas_model.sent == mini_sent  # and every later request, format errors and long outputs included
    assert atlas_env.commands == mini_commands == ["ls", "python3 -c 'print(1/0)'", "cat big.log", SUBMIT]
    assert info["exit_status"] == "Submitted" and info["submission"] == PATCH
    assert outcome.status is Status.SUBMITTED and outcome.patch == PATCH
    assert outcome.steps == len(REPLIES) and outcome.format_errors == 2
    # the kinds are ATLAS's own record; the messages above stayed mini's
    assert outcome.format_error_kinds == {"no_action": 1, "multiple_actions": 1}


def test_the_first_messages_are_the_installed_packages_templates():
    system, task = PROTOCOL.first_messages("Fix the bug.", PROTOCOL.template_vars("/testbed", 60))
    assert system["content"] == PROTOCOL.agent["system_template"].strip()
    assert "Fix the bug." in task["content"] and SUBMIT_LINE in task["content"]
    assert f"```{FENCE}" in task["content"]  # the reply format it asks for is the one its regex parses


@pytest.mark.parametrize("reply, command", [
    (f"THOUGHT: x\n\n```{FENCE}\ngrep -n foo a.py | head\n```", "grep -n foo a.py | head"),
    (f"```{FENCE}\ncat <<'EOF' > f.py\nx = 1\nEOF\n```", "cat <<'EOF' > f.py\nx = 1\nEOF"),
    ("```python\nprint(1)\n```", None),
    (f"```{FENCE}\nls\n```\n```{FENCE}\npwd\n```", None),
])
def test_a_reply_parses_as_mini_parses_it(reply, command):
    import re

    mini = [a.strip() for a in re.findall(PROTOCOL.action_regex, reply, re.DOTALL)]
    if PROTOCOL.generation == 2:
        from minisweagent.exceptions import FormatError
        from minisweagent.models.utils.actions_text import parse_regex_actions

        try:
            mini = [a["command"] for a in parse_regex_actions(
                reply, action_regex=PROTOCOL.action_regex, format_error_template=PROTOCOL.model["format_error_template"])]
        except FormatError as e:
            mini, message = [], e.messages[0]["content"]
            assert PROTOCOL.parse(reply, "stop", {})[1] == message
    parsed, _ = PROTOCOL.parse(reply, "stop", {})
    assert parsed == command and (mini == [command] if command else len(mini) != 1)


def test_manifest_names_the_package_version_and_config_file_hash():
    from importlib import metadata
    import hashlib

    described = MiniAgent({"name": "mini"}).describe()
    mini = described["mini_swe_agent"]
    assert mini["version"] == metadata.version("mini-swe-agent")
    assert mini["protocol_version"] == f"{PROTOCOL.generation}.x"
    from minisweagent.config import builtin_config_dir

    assert mini["config_sha256"] == hashlib.sha256((Path(builtin_config_dir) / mini["config_file"]).read_bytes()).hexdigest()
    assert described["step_limit"] == PROTOCOL.step_limit and described["command_timeout"] == PROTOCOL.command_timeout


def test_limits_left_null_come_from_the_config_and_set_ones_win():
    agent = MiniAgent({"name": "mini", "step_limit": 7})
    assert agent.settings.step_limit == 7 and agent.settings.cost_limit == PROTOCOL.cost_limit


def test_a_config_of_another_name_is_a_config_error():
    from atlas.config import ConfigError

    with pytest.raises(ConfigError, match="agent.mini_config"):
        MiniAgent({"name": "mini", "mini_config": "no_such.yaml"})


def test_repeated_format_errors_end_the_run_as_mini_does(tmp_path):
    """2.x ends at the 3rd malformed reply in a row; 1.x never ends for format errors (the step limit does)."""
    model, env = RecordingModel(["no command"] * 6), FakeContainer()
    trajectory = Trajectory(tmp_path / "t.jsonl")
    outcome = MiniAgent({"name": "mini", "step_limit": 6}).run(model, env, sample_instance(), trajectory, Deadline(60))
    trajectory.close()
    if PROTOCOL.generation == 2:
        assert outcome.status is Status.FORMAT_ERROR_LIMIT and outcome.steps == PROTOCOL.consecutive_format_errors
        assert outcome.message == "no_action: malformed replies in a row"
    else:
        assert outcome.status is Status.STEP_LIMIT and outcome.steps == 6


def test_repetition_limit_stops_a_loop_early(tmp_path):
    model, env = RecordingModel([f"```{FENCE}\nls\n```"] * 10), FakeContainer()
    trajectory = Trajectory(tmp_path / "t.jsonl")
    outcome = MiniAgent({"name": "mini", "repetition_limit": 3}).run(model, env, sample_instance(), trajectory,
                                                                     Deadline(60))
    trajectory.close()
    assert outcome.status is Status.REPETITION and outcome.steps == 3 and env.commands == ["ls", "ls"]


def test_scripted_replies_follow_the_scaffolds_format():
    from atlas.models.deterministic import restyle

    agent = MiniAgent({"name": "mini"})
    [turn] = restyle(["THOUGHT: done\n\n```bash\necho ATLAS_SUBMIT\n```"], agent.reply_format())
    command, _ = PROTOCOL.parse(turn, "stop", {})
    assert command == SUBMIT and PROTOCOL.submission(*OUTPUTS[command]) == PATCH


def test_git_is_what_the_submit_command_needs():
    # the scripted submit command is mini 1.x's own: it must be valid shell
    assert subprocess.run(["bash", "-n", "-c", SUBMIT]).returncode == 0
