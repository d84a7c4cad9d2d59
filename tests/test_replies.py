"""Reading actions out of replies: every form a scaffold accepts, and every named format error."""

import json

import pytest

from atlas.agents.bash.reply import example_commands, parse_action
from atlas.agents.replies import (EMPTY_ACTION, MULTIPLE_ACTIONS, NO_ACTION, PLACEHOLDER_COPIED, TOOL_CALL_IN_CONTENT,
                                  WRONG_FENCE_LANGUAGE, ReplyFormatError, content_tool_calls, fenced_blocks,
                                  format_error_kind, text_without_calls)
from atlas.agents.tools.reply import calls_in_text

HERMES = 'Let me look.\n<tool_call>\n{"name": "bash", "arguments": {"command": "ls -la"}}\n</tool_call>'
QWEN3_XML = ("I'll list it.\n\n<tool_call>\n<function=bash>\n<parameter=command>\ncd /testbed && ls\n"
             "</parameter>\n</function>\n</tool_call>")
OPENHANDS_XML_CUT = "Let me see.\n<function=execute_bash>\n<parameter=command>\ngrep -rn foo .\n"  # stop at `</function`
BARE_JSON = '{"name": "bash", "arguments": {"command": "pytest -x"}}'
JSON_FENCE = 'Run the tests:\n```json\n{"name": "bash", "parameters": {"command": "pytest -x"}}\n```'
STRING_ARGUMENTS = json.dumps({"name": "bash", "arguments": json.dumps({"command": "pwd"})})
WIRE_SHAPE = json.dumps({"type": "function", "function": {"name": "bash", "arguments": {"command": "pwd"}}})


@pytest.mark.parametrize("text, command, form", [
    ("THOUGHT: look\n\n```bash\nls -la\n```", "ls -la", "fence:bash"),
    ("x\n```bash\ncat <<'EOF' > f\na\nEOF\n```\n", "cat <<'EOF' > f\na\nEOF", "fence:bash"),
    ("```sh\ngrep -rn x .\n```", "grep -rn x .", "fence:sh"),
    ("```shell\nmake test\n```", "make test", "fence:shell"),
    ("```console\n$ git status\n```", "git status", "fence:console"),
    (HERMES, "ls -la", "tool_call"),
    (QWEN3_XML, "cd /testbed && ls", "function_xml"),
    (OPENHANDS_XML_CUT, "grep -rn foo .", "function_xml"),
    (BARE_JSON, "pytest -x", "json"),
    (JSON_FENCE, "pytest -x", "json"),
    (STRING_ARGUMENTS, "pwd", "json"),
    (WIRE_SHAPE, "pwd", "json"),
])
def test_the_bash_scaffold_takes_one_unambiguous_command_in_any_common_form(text, command, form):
    action = parse_action(text)
    assert (action.command, action.form) == (command, form)


@pytest.mark.parametrize("text, kind, says", [
    ("I think I should look around.", NO_ACTION, "found 0 ```bash blocks"),
    ("```bash\nls\n```\n```bash\npwd\n```", MULTIPLE_ACTIONS, "found 2"),
    ("```bash\nls\n```\n```sh\npwd\n```", MULTIPLE_ACTIONS, "found 2"),
    (HERMES + "\n" + HERMES, MULTIPLE_ACTIONS, "found 2 tool calls"),
    ("```python\nprint(1)\n```", WRONG_FENCE_LANGUAGE, "only python blocks"),
    ("```\nls\n```", WRONG_FENCE_LANGUAGE, "only untagged blocks"),
    ("```console\n$ ls\nREADME.md\n```", WRONG_FENCE_LANGUAGE, "only console blocks"),  # shows output: not a command
    ('<tool_call>{"name": "str_replace_editor", "arguments": {"command": "view", "path": "a.py"}}</tool_call>',
     TOOL_CALL_IN_CONTENT, "str_replace_editor"),
    ("```bash\n\n```", EMPTY_ACTION, "empty"),
])
def test_the_bash_scaffold_names_each_kind_of_malformed_reply(text, kind, says):
    with pytest.raises(ReplyFormatError, match=says) as caught:
        parse_action(text)
    assert caught.value.kind == kind


def test_a_copied_placeholder_is_refused_with_what_to_do():
    placeholders = example_commands("Reply like this:\n\n```bash\nyour_command_here\n```",
                                    "Example:\n```bash\none_command_here\n```\nTo finish, `echo DONE`.")
    assert placeholders == {"your_command_here", "one_command_here"}
    with pytest.raises(ReplyFormatError, match="replace it with a real shell command") as caught:
        parse_action("THOUGHT: ok\n```bash\none_command_here\n```", placeholders)
    assert caught.value.kind == PLACEHOLDER_COPIED
    assert parse_action("```bash\necho one_command_here_done\n```", placeholders).command == "echo one_command_here_done"


def test_the_bash_templates_placeholders_are_found():
    from atlas.agents.bash.agent import BashAgent

    render = BashAgent({"name": "bash"}).templates.render
    found = example_commands(render("system", submit="S"), render("format_error", error="x", submit="S"))
    assert found == {"your_command_here", "one_command_here"}


def test_fenced_blocks_keep_language_and_body():
    text = "a\n```Python\nprint(1)\n```\nb ```bash\nls```\n````md\n```bash\nnested\n```\n````"
    assert [(b.language, b.body) for b in fenced_blocks(text)] == [
        ("python", "print(1)"), ("bash", "ls"), ("md", "```bash\nnested\n```")]


def test_content_calls_in_every_form_and_the_text_around_them():
    calls = content_tool_calls(HERMES + "\n" + QWEN3_XML)
    assert [(c.name, c.arguments, c.form) for c in calls] == [
        ("bash", {"command": "ls -la"}, "tool_call"), ("bash", {"command": "cd /testbed && ls"}, "function_xml")]
    assert text_without_calls(HERMES + "\n" + QWEN3_XML) == "Let me look.\n\nI'll list it."
    editor = ("<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path>/a.py"
              "</parameter>\n<parameter=old_str>\n    x = 1\n</parameter>\n<parameter=new_str>\n    x = 2\n"
              "</parameter>\n</function>")
    assert content_tool_calls(editor)[0].arguments == {"command": "str_replace", "path": "/a.py",
                                                       "old_str": "    x = 1", "new_str": "    x = 2"}
    assert [c.name for c in content_tool_calls('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]')] \
        == ["a", "b"]
    assert content_tool_calls('a dict {"a": 1} and {"name": "x"} are no calls') == []
    assert content_tool_calls('<tool_call>{"name": "bash", "arguments": {"command": "ls"</tool_call>') == []


def test_the_tools_scaffold_takes_calls_written_in_the_text():
    calls = calls_in_text(HERMES + "\n" + OPENHANDS_XML_CUT.replace("execute_bash", "view").replace(
        "command>\ngrep -rn foo .", "path>\na.py"), step=3)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("text_3_0", "bash", {"command": "ls -la"}), ("text_3_1", "view", {"path": "a.py"})]
    aliased = calls_in_text('{"name": "execute_bash", "arguments": {"cmd": "pwd"}}', step=0)
    assert (aliased[0].name, json.loads(aliased[0].arguments)) == ("bash", {"command": "pwd"})


@pytest.mark.parametrize("text, says", [
    ("I will now look at the file.", "called no tool"),
    ("Let me run:\n```bash\nls\n```", "call the bash tool with that command"),
])
def test_the_tools_scaffold_names_a_reply_without_calls(text, says):
    with pytest.raises(ReplyFormatError, match=says) as caught:
        calls_in_text(text, step=0)
    assert caught.value.kind == NO_ACTION


@pytest.mark.parametrize("text, found, kind", [
    ("no action", 0, NO_ACTION),
    ("```bash\nls\n```\n```bash\npwd\n```", 2, MULTIPLE_ACTIONS),
    ("```sh\nls\n```", 0, WRONG_FENCE_LANGUAGE),
    (HERMES, 0, TOOL_CALL_IN_CONTENT),
])
def test_kinds_for_a_protocol_that_keeps_its_own_parser(text, found, kind):
    assert format_error_kind(text, "mswea_bash_command", found) == kind


def test_qwen25_coder_tools_tag_and_deepseek_markers_hold_json_calls():
    tools_tag = '<tools>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tools>'
    deepseek = ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>\n{"name": "bash", "parameters": {"command": "ls"}}\n'
                '<｜tool▁call▁end｜><｜tool▁calls▁end｜>')
    for text in (tools_tag, deepseek):
        assert [(c.name, c.arguments) for c in content_tool_calls(text)] == [("bash", {"command": "ls"})]
        assert parse_action(text).command == "ls"


def test_agentless_takes_a_reproduction_script_in_a_py_fence_too():
    from atlas.agents.agentless.answers import parse_script

    assert parse_script("Script:\n```py\nimport x\nassert x.f() == 1\n```") == "import x\nassert x.f() == 1\n"
    assert parse_script("```python3\nprint(1)\n```") == "print(1)\n"
    assert parse_script("```pyi\nx: int\n```") is None and parse_script("```bash\npython t.py\n```") is None


def test_xml_parameters_take_their_schema_type_and_unclosed_ones_lose_trailing_newlines():
    xml = "<tool_call>\n<function=view>\n<parameter=path>\na.py\n</parameter>\n<parameter=start_line>\n12\n\n\n</tool_call>"
    (call,) = calls_in_text(xml, step=0)
    assert (call.name, json.loads(call.arguments)) == ("view", {"path": "a.py", "start_line": 12})
    json_call = calls_in_text('{"name": "view", "arguments": {"path": "a.py", "start_line": "12"}}', step=0)[0]
    assert json.loads(json_call.arguments)["start_line"] == "12"  # JSON keeps its own types: the schema check says so
