"""The bash scaffold: its loop driven by scripted answers in a real container (parsing: tests/test_replies.py)."""

import time

import pytest

from atlas.interfaces import Deadline
from atlas.agents.bash.agent import BashAgent
from atlas.config import ConfigError, EnvConfig
from atlas.environments import DockerEnvironment
from atlas.models.deterministic import ScriptedModel, turn
from atlas.records import Status
from atlas.trajectory import Trajectory
from tests.conftest import read_jsonl


def test_unknown_agent_option_is_a_config_error():
    with pytest.raises(ConfigError, match="agent.step_limt"):
        BashAgent({"name": "bash", "step_limt": 3})


def test_templates_are_hashed():
    hashes = BashAgent({"name": "bash"}).describe()["template_sha256"]
    assert set(hashes) == {"system.j2", "instance.j2", "observation.j2", "format_error.j2"}
    assert all(len(h) == 64 for h in hashes.values())


@pytest.fixture
def instance(sample_images):
    return sample_images[0]


def drive(docker_client, instance, tmp_path, turns, seconds=600, **agent):
    """Run the scaffold on `instance` with scripted turns; return (outcome, trajectory entries, diff)."""
    model = ScriptedModel({"name": "t", "backend": "scripted"}, turns)
    trajectory = Trajectory(tmp_path / "trajectory.jsonl")
    with DockerEnvironment(instance.image_name(), EnvConfig(), {"atlas.run_dir": str(tmp_path)}, docker_client) as env:
        outcome = BashAgent({"name": "bash", **agent}).run(model, env, instance, trajectory, Deadline(seconds))
        patch = env.diff(instance.base_commit)
    trajectory.close()
    return outcome, read_jsonl(tmp_path / "trajectory.jsonl"), patch


def test_malformed_turn_gets_an_error_message_and_the_loop_goes_on(docker_client, instance, tmp_path):
    turns = ["I think I should look around.", turn("make a file", "echo hi > NOTE.txt"), turn("done", "echo ATLAS_SUBMIT")]
    outcome, entries, patch = drive(docker_client, instance, tmp_path, turns)
    assert outcome.status is Status.SUBMITTED and outcome.format_errors == 1 and outcome.steps == 3
    errors = [e for e in entries if e.get("format_error")]
    assert len(errors) == 1 and "found 0 ```bash blocks" in errors[0]["content"]
    assert "+hi" in patch and "NOTE.txt" in patch
    actions = [e for e in entries if e["kind"] == "action"]
    assert actions[0]["command"] == "echo hi > NOTE.txt" and actions[0]["exit_code"] == 0


def test_other_forms_are_run_and_noted_and_each_error_is_counted_by_kind(docker_client, instance, tmp_path):
    turns = ["THOUGHT: as shown\n```bash\none_command_here\n```",
             '<tool_call>\n{"name": "bash", "arguments": {"command": "echo hi > NOTE.txt"}}\n</tool_call>',
             "```python\nprint(1)\n```", "```sh\necho ATLAS_SUBMIT\n```"]
    outcome, entries, patch = drive(docker_client, instance, tmp_path, turns)
    assert outcome.status is Status.SUBMITTED and outcome.format_errors == 2
    assert outcome.format_error_kinds == {"placeholder_copied": 1, "wrong_fence_language": 1}
    errors = [e for e in entries if e.get("format_error")]
    assert [e["format_error_kind"] for e in errors] == ["placeholder_copied", "wrong_fence_language"]
    assert "replace it with a real shell command" in errors[0]["content"]
    actions = [e for e in entries if e["kind"] == "action"]
    assert [(a["command"], a.get("action_form")) for a in actions] == [("echo hi > NOTE.txt", "tool_call"),
                                                                        ("echo ATLAS_SUBMIT", "fence:sh")]
    assert "+hi" in patch


def test_too_many_malformed_turns_end_the_instance(docker_client, instance, tmp_path):
    outcome, entries, _ = drive(docker_client, instance, tmp_path, ["no command"] * 5, format_error_limit=2)
    assert outcome.status is Status.FORMAT_ERROR_LIMIT and outcome.format_errors == 3
    assert outcome.format_error_kinds == {"no_action": 3} and outcome.message.startswith("no_action: found 0")


def test_step_limit(docker_client, instance, tmp_path):
    outcome, entries, _ = drive(docker_client, instance, tmp_path, [turn("look", "ls")] * 10, step_limit=4)
    assert outcome.status is Status.STEP_LIMIT and outcome.steps == 4
    observations = [e for e in entries if e["kind"] == "message" and e["role"] == "user"]
    assert "<exit_code>0</exit_code>" in observations[-1]["content"]


def test_hanging_command_is_reported_to_the_model(docker_client, instance, tmp_path):
    turns = [turn("wait", "sleep 120"), turn("check", "echo still-here"), turn("done", "echo ATLAS_SUBMIT")]
    outcome, entries, _ = drive(docker_client, instance, tmp_path, turns, command_timeout=2)
    assert outcome.status is Status.SUBMITTED
    first_observation = [e for e in entries if e["kind"] == "message" and e["role"] == "user"][1]["content"]
    assert "timed out after 2 seconds" in first_observation
    second = [e for e in entries if e["kind"] == "action"][1]
    assert second["output"].strip() == "still-here"


def test_instance_wall_clock_timeout(docker_client, instance, tmp_path):
    started = time.monotonic()
    outcome, entries, _ = drive(docker_client, instance, tmp_path, [turn("wait", "sleep 30")] * 5, seconds=3)
    assert outcome.status is Status.TIMEOUT
    # commands are cut to the time left (whole seconds), so the 3 s budget holds: no 30 s sleep ran out
    assert time.monotonic() - started < 20
    assert all(e["timed_out"] for e in entries if e["kind"] == "action")


def test_a_repetition_loop_is_stopped_early(docker_client, instance, tmp_path):
    turns = [turn("look", "ls")] * 10
    outcome, entries, _ = drive(docker_client, instance, tmp_path, turns, repetition_limit=3)
    assert outcome.status is Status.REPETITION and outcome.steps == 3 and "3 times in a row: ls" in outcome.message
    assert [e["command"] for e in entries if e["kind"] == "action"] == ["ls", "ls"]  # the third never ran
