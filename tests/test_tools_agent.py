"""The tool-calling scaffold: its schemas, every tool in a real container, failure paths, both tool-calling backends."""

import json

import pytest
import yaml

from atlas.interfaces import Deadline
from atlas.agents.tools.agent import ToolsAgent
from atlas.agents.tools.schemas import TOOLS, ToolArgumentError, parse_call
from atlas.config import CONF_DIR, ConfigError, EnvConfig
from atlas.environments import DockerEnvironment
from atlas.models import make_model
from atlas.models.deterministic import ScriptedModel, tool_turn
from atlas.records import Status
from atlas.trajectory import Trajectory
from tests.conftest import read_jsonl
from tests.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


@pytest.mark.parametrize("name, arguments, problem", [
    ("grep", '{"pattern": "x"', "not valid JSON"),
    ("grep", '["x"]', "must be a JSON object"),
    ("search", '{"pattern": "x"}', "no tool named 'search'"),
    ("str_replace", '{"path": "a.py", "old_str": "x"}', "needs the argument(s) new_str"),
    ("view", '{"path": "a.py", "lines": 3}', "has no argument 'lines'"),
    ("view", '{"path": "a.py", "start_line": "3"}', "start_line must be a JSON integer"),
    ("insert", '{"path": "a.py", "line": true, "text": "x"}', "line must be a JSON integer"),
    ("view", '{"path": "a.py", "start_line": 0}', "at least 1"),
])
def test_calls_that_do_not_fit_their_schema_say_what_to_fix(name, arguments, problem):
    with pytest.raises(ToolArgumentError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_call(name, arguments)


def test_valid_calls_parse_and_the_schemas_are_consistent():
    assert parse_call("view", '{"path": "a.py", "start_line": 3}') == {"path": "a.py", "start_line": 3}
    assert parse_call("submit", "") == {}
    names = [t["function"]["name"] for t in TOOLS]
    assert len(names) == len(set(names)) and {"bash", "view", "str_replace", "insert", "create", "undo_edit",
                                              "find_files", "grep", "submit"} == set(names)
    for tool in TOOLS:
        parameters = tool["function"]["parameters"]
        assert set(parameters["required"]) <= set(parameters["properties"]) and tool["function"]["description"]


def test_describe_records_templates_and_the_interface():
    described = ToolsAgent({"name": "tools"}).describe()
    assert set(described["template_sha256"]) == {"system.j2", "instance.j2", "observation.j2", "tool_error.j2",
                                                 "format_error.j2"}
    assert len(described["tools_sha256"]) == 64 and described["cost_limit"] == 0.0
    with pytest.raises(ConfigError, match="agent.view_windw"):
        ToolsAgent({"name": "tools", "view_windw": 3})


@pytest.fixture
def instance(sample_images):
    return next(i for i in sample_images if i.instance_id == "atlas-samples__durations-1")


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


def drive(docker_client, instance, tmp_path, model, seconds=600, **agent):
    """Run the scaffold with `model` in a fresh container; return (outcome, trajectory entries, diff)."""
    trajectory = Trajectory(tmp_path / "trajectory.jsonl")
    with DockerEnvironment(instance.image_name(), EnvConfig(), {"atlas.run_dir": str(tmp_path)}, docker_client) as env:
        outcome = ToolsAgent({"name": "tools", **agent}).run(model, env, instance, trajectory, Deadline(seconds))
        patch = env.diff(instance.base_commit)
    trajectory.close()
    return outcome, read_jsonl(tmp_path / "trajectory.jsonl"), patch


def scripted(*turns):
    answers = [tool_turn(content, calls, i) for i, (content, calls) in enumerate(turns)]
    model = ScriptedModel({"name": "t", "backend": "scripted"}, answers)
    model.scaffold = "tools"
    return model


def results(entries):
    """Tool results by call id."""
    return {e["tool_call_id"]: e["content"] for e in entries if e["kind"] == "message" and e["role"] == "tool"}


def test_every_tool_acts_in_the_container(docker_client, instance, tmp_path):
    model = scripted(
        ("explore", [call("find_files", pattern="test_*.py"), call("grep", pattern=r"def format_\w+", include="*.py"),
                     call("view", path="durations/format.py", start_line=3), call("view", path="durations")]),
        ("edit", [call("str_replace", path="durations/format.py", old_str="    ", new_str=" "),
                  call("str_replace", path="durations/format.py", old_str='"""Formatting seconds as text."""',
                       new_str='"""Formatting seconds (and fractions) as text."""'),
                  call("insert", path="durations/format.py", line=1, text="# scratch"),
                  call("undo_edit", path="durations/format.py"),
                  call("create", path="NOTES.md", file_text="a note\n"),
                  call("str_replace", path="durations/nope.py", old_str="a", new_str="b")]),
        ("bad calls", [{"name": "view", "arguments": '{"path": "durations/format.py"'}, call("search", pattern="x"),
                       call("insert", path="durations/format.py", text="x"), call("bash", command="exit 3")]),
        ("done", [call("submit")]),
    )
    outcome, entries, patch = drive(docker_client, instance, tmp_path, model, view_window=5)
    assert outcome.status is Status.SUBMITTED and outcome.steps == 4 and outcome.format_errors == 0
    seen = results(entries)
    assert seen["call_0_0"].splitlines() == ["tests/test_format.py", "tests/test_iso.py", "tests/test_parse.py",
                                             "tests/test_units.py"]
    assert "durations/format.py:6:def format_duration(" in seen["call_0_1"]
    assert seen["call_0_2"].startswith("     3\tfrom .units import") and "[lines 3-7 of" in seen["call_0_2"]
    assert "format.py" in seen["call_0_3"].splitlines()
    assert "occurs" in seen["call_1_0"] and "matches exactly once" in seen["call_1_0"]
    assert seen["call_1_1"].startswith("Edited durations/format.py:\n     1\t")
    assert "Restored" in seen["call_1_3"] and "Created NOTES.md" in seen["call_1_4"]
    assert "durations/nope.py does not exist" in seen["call_1_5"]
    assert "not valid JSON" in seen["call_2_0"] and "no tool named 'search'" in seen["call_2_1"]
    assert "needs the argument(s) line" in seen["call_2_2"] and "<exit_code>3</exit_code>" in seen["call_2_3"]
    assert "+a note" in patch and "(and fractions)" in patch and "# scratch" not in patch
    actions = [e for e in entries if e["kind"] == "action"]
    assert [a["tool"] for a in actions][:4] == ["find_files", "grep", "view", "view"]
    assert actions[-1]["tool"] == "submit"
    assert all({"command", "output", "exit_code", "duration_s", "tool"} <= set(a) for a in actions)
    assert len([e for e in entries if e["kind"] == "tool_error"]) == 3


def test_turn_without_a_tool_call_is_a_format_error(docker_client, instance, tmp_path):
    model = scripted(("thinking aloud", []), ("done", [call("submit")]))
    outcome, entries, _ = drive(docker_client, instance, tmp_path, model)
    assert outcome.status is Status.SUBMITTED and outcome.format_errors == 1
    assert any(e.get("format_error") and "called no tool" in e["content"] for e in entries)
    outcome, _, _ = drive(docker_client, instance, tmp_path, scripted(*[("hmm", [])] * 4), format_error_limit=2)
    assert outcome.status is Status.FORMAT_ERROR_LIMIT and outcome.format_errors == 3


def test_hanging_and_overlong_commands_are_reported(docker_client, instance, tmp_path):
    model = scripted(("wait", [call("bash", command="sleep 60")]),
                     ("flood", [call("bash", command="seq 1 20000")]),
                     ("done", [call("submit")]))
    outcome, entries, _ = drive(docker_client, instance, tmp_path, model, command_timeout=2)
    assert outcome.status is Status.SUBMITTED
    seen = results(entries)
    assert "timed out after 2 seconds" in seen["call_0_0"]
    head, tail = seen["call_1_0"].split("<output>\n")[1].split("characters elided")
    assert "middle part was removed" in seen["call_1_0"] and head.startswith("1\n2\n") and "\n20000\n" in tail


def test_step_limit(docker_client, instance, tmp_path):
    outcome, _, _ = drive(docker_client, instance, tmp_path, scripted(*[("look", [call("bash", command="ls")])] * 5),
                          step_limit=3)
    assert outcome.status is Status.STEP_LIMIT and outcome.steps == 3


def test_gold_and_empty_work_through_tools(docker_client, instance, tmp_path):
    gold = make_model({"name": "gold", "backend": "gold"}, scaffold="tools").for_instance(instance)
    outcome, _, patch = drive(docker_client, instance, tmp_path, gold)
    assert outcome.status is Status.SUBMITTED and patch == instance.patch
    empty = make_model({"name": "empty", "backend": "empty"}, scaffold="tools").for_instance(instance)
    outcome, _, patch = drive(docker_client, instance, tmp_path, empty)
    assert outcome.status is Status.SUBMITTED and outcome.steps == 1 and patch == ""


def served_model(server, tmp_path, **settings):
    """The openai backend for the tools scaffold, on the stand-in server (conftest's `server`)."""
    model = make_model({"name": "fake", "backend": "openai", "model": "fake-coder", "base_url": server.base_url,
                        **settings}, scaffold="tools")
    model.open(tmp_path)
    return model


def test_openai_wire_format(docker_client, instance, server, tmp_path):
    server.answer("", tool_calls=[{"name": "bash", "arguments": json.dumps({"command": "echo hi > NOTE.txt"})}])
    server.answer("Done.", tool_calls=[{"name": "submit", "arguments": "{}"}])
    outcome, _, patch = drive(docker_client, instance, tmp_path, served_model(server, tmp_path))
    assert outcome.status is Status.SUBMITTED and "+hi" in patch and outcome.usage.prompt_tokens > 0
    first, second = (r["body"] for r in server.requests if r["path"].endswith("/chat/completions"))
    assert first["tools"] == TOOLS
    assistant, result = second["messages"][-2:]
    assert assistant["tool_calls"] == [{"id": "call_0", "type": "function", "function": {
        "name": "bash", "arguments": json.dumps({"command": "echo hi > NOTE.txt"})}}]
    assert (result["role"], result["tool_call_id"]) == ("tool", "call_0")
    assert "<exit_code>0</exit_code>" in result["content"]


@pytest.mark.parametrize("keep", [True, False])
def test_reasoning_behind_a_call_goes_back_only_where_the_preset_keeps_it(docker_client, instance, server, tmp_path,
                                                                          keep):
    """gpt-oss (reasoning_in_history) gets each call's reasoning back, as vLLM's harmony renderer reads it;
    other models get the calls alone. The trajectory keeps the reasoning either way."""
    server.answer("", tool_calls=[{"name": "bash", "arguments": json.dumps({"command": "ls"})}],
                  reasoning="List the files before editing.")
    server.answer("Done.", tool_calls=[{"name": "submit", "arguments": "{}"}])
    outcome, entries, _ = drive(docker_client, instance, tmp_path,
                                served_model(server, tmp_path, reasoning_in_history=keep))
    assert outcome.status is Status.SUBMITTED
    second = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")][1]
    assistant = second["messages"][-2]
    assert assistant["tool_calls"][0]["function"]["name"] == "bash"
    assert assistant.get("reasoning") == ("List the files before editing." if keep else None)
    assert [e["reasoning"] for e in entries if e.get("role") == "assistant" and e.get("reasoning")] == [
        "List the files before editing."]


def test_calls_left_in_the_text_by_the_server_are_run_and_sent_back_as_calls(docker_client, instance, server, tmp_path):
    """A server whose tool parser missed the call (as vLLM's hermes parser on some Qwen2.5-Coder replies)."""
    server.answer('Making a note.\n<tool_call>\n{"name": "bash", "arguments": {"command": "echo hi > NOTE.txt"}}'
                  '\n</tool_call>')
    server.answer("Nothing to call.")
    server.answer("Done.\n<tool_call>\n<function=submit>\n</function>\n</tool_call>")
    outcome, entries, patch = drive(docker_client, instance, tmp_path, served_model(server, tmp_path))
    assert outcome.status is Status.SUBMITTED and "+hi" in patch and outcome.steps == 3
    assert outcome.format_errors == 1 and outcome.format_error_kinds == {"no_action": 1}
    second = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")][1]
    assistant, result = second["messages"][-2:]
    assert assistant["content"] == "Making a note."
    assert assistant["tool_calls"] == [{"id": "text_1_0", "type": "function", "function": {
        "name": "bash", "arguments": json.dumps({"command": "echo hi > NOTE.txt"})}}]
    assert (result["role"], result["tool_call_id"]) == ("tool", "text_1_0")
    recovered = [e for e in entries if e["kind"] == "tool_calls_from_text"]
    assert [e["forms"] for e in recovered] == [["tool_call"], ["function_xml"]]
    assert [e for e in entries if e.get("format_error")][0]["format_error_kind"] == "no_action"


def test_anthropic_wire_format(docker_client, instance, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())
    with FakeAnthropic() as server:
        server.reply("Two edits.", tool_uses=[
            {"id": "toolu_1", "name": "create", "input": {"path": "NOTE.txt", "file_text": "hi\n"}},
            {"id": "toolu_2", "name": "view", "input": {"path": "NOTE.txt"}}], stop_reason="tool_use",
            input_tokens=1000, output_tokens=50)
        server.reply("", tool_uses=[{"id": "toolu_3", "name": "submit", "input": {}}], stop_reason="tool_use",
                     input_tokens=1200, output_tokens=10)
        model = make_model({**preset, "base_url": server.url, "retries": 1}, scaffold="tools")
        outcome, _, patch = drive(docker_client, instance, tmp_path, model)
    assert outcome.status is Status.SUBMITTED and "+hi" in patch
    assert outcome.usage.prompt_tokens == 2200 and outcome.cost_usd > 0
    first, second = (r.body for r in server.requests)
    assert [t["name"] for t in first["tools"]] == [t["function"]["name"] for t in TOOLS]
    assert all("input_schema" in t for t in first["tools"])
    results_turn = second["messages"][-1]
    assert results_turn["role"] == "user"
    assert [(b["type"], b["tool_use_id"]) for b in results_turn["content"]] == [("tool_result", "toolu_1"),
                                                                                 ("tool_result", "toolu_2")]
    assert "Created NOTE.txt" in results_turn["content"][0]["content"]
