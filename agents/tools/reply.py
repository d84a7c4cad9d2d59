"""The tool scaffold's reading of a reply that carries no native tool call.

Servers do not always turn what a model wrote into the API's `tool_calls` field: a
chat template's parser may miss a call (vLLM's hermes parser and some Qwen2.5-Coder
replies), or the server may run without one (llama.cpp's generic chat format). The
model's intent is still plain in the text, so the calls written there -- JSON,
`<tool_call>` blocks, `<function=...>` XML (agents/replies.py) -- are taken as its tool
calls, each with an id of its own. Shell-tool names other models were trained on
(`execute_bash`, ...) mean this scaffold's `bash`; XML parameters, which are text, take
their schema's integer or boolean type. A reply with no call at all is a
named format error: `no_action`, with a hint when it wrote a command in a fence instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from atlas.agents.replies import NO_ACTION, ContentCall, ReplyFormatError, content_tool_calls, fenced_blocks
from atlas.agents.tools.schemas import SCHEMAS
from atlas.models.base import ToolCall

SHELL_ALIASES = {"execute_bash", "run_bash", "shell", "run_shell", "run_command", "execute_command", "terminal"}
SHELL_FENCES = {"bash", "sh", "shell", "zsh", "console"}


def _typed(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """XML parameters are text: give integers and booleans their schema's type, as vLLM's qwen3_coder parser does."""
    properties = SCHEMAS.get(name, {}).get("properties", {})
    typed = dict(arguments)
    for key, value in arguments.items():
        kind = properties.get(key, {}).get("type")
        if isinstance(value, str) and kind == "integer" and re.fullmatch(r"-?\d+", value.strip()):
            typed[key] = int(value)
        elif isinstance(value, str) and kind == "boolean" and value.strip().lower() in ("true", "false"):
            typed[key] = value.strip().lower() == "true"
    return typed


def _as_tool_call(call: ContentCall, index: int, step: int) -> ToolCall:
    name = "bash" if call.name in SHELL_ALIASES else call.name
    arguments = call.arguments
    if name == "bash" and "command" not in arguments and isinstance(arguments.get("cmd"), str):
        arguments = {"command": arguments["cmd"]}
    if call.form == "function_xml":
        arguments = _typed(name, arguments)
    return ToolCall(id=f"text_{step}_{index}", name=name, arguments=json.dumps(arguments, ensure_ascii=False))


def calls_in_text(text: str, step: int) -> list[ToolCall]:
    """The tool calls written in a reply's text, or ReplyFormatError (`no_action`) saying what to do instead.

    Their arguments are checked later like native ones (tools/schemas.py): an unknown tool or
    a missing argument becomes the call's error result, not a format error.
    """
    calls = content_tool_calls(text)
    if calls:
        return [_as_tool_call(call, i, step) for i, call in enumerate(calls)]
    if any(b.language in SHELL_FENCES for b in fenced_blocks(text)):
        raise ReplyFormatError(NO_ACTION, "your reply wrote a command in a fenced block but called no tool; "
                                          "call the bash tool with that command instead")
    raise ReplyFormatError(NO_ACTION, "your reply called no tool")
