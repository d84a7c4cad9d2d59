"""Reading actions out of a model's free-text reply: fenced blocks and tool calls written in the content.

Real models do not always answer in the form a scaffold asked for. A reply may carry
its command in a fence with another language tag (```sh, ```console, ```python), or as
a tool call written into the content instead of the API's `tool_calls` field, in one
of the forms chat templates teach:
- JSON: `{"name": "bash", "arguments": {"command": "ls"}}` (bare, or in a ```json fence);
- Hermes / Qwen2.5: `<tool_call>{"name": ..., "arguments": ...}</tool_call>`;
- Qwen3-Coder / OpenHands XML: `<function=bash><parameter=command>ls</parameter></function>`,
  with or without a `<tool_call>` wrapper and with or without its closing tags (a stop
  sequence at `</function` cuts them off).

This module only finds those parts; each scaffold decides what it accepts (see
`agents/bash/agent.py`, `agents/tools/agent.py`). A reply it cannot take is a
`ReplyFormatError` whose `kind` names what was wrong, so a run's format errors can be
told apart (model or scaffold?) in the trajectory and in status.json.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# the kinds of format error, as recorded in trajectories and counted in status.json
NO_ACTION = "no_action"  # nothing that looks like an action
MULTIPLE_ACTIONS = "multiple_actions"  # more than one where exactly one is asked for
WRONG_FENCE_LANGUAGE = "wrong_fence_language"  # a fenced block, but not in the language asked for
TOOL_CALL_IN_CONTENT = "tool_call_in_content"  # a tool call written in the text that the scaffold cannot take
PLACEHOLDER_COPIED = "placeholder_copied"  # the prompt's example command, copied as is
EMPTY_ACTION = "empty_action"  # the asked-for block, empty
FORMAT_ERROR_KINDS = (NO_ACTION, MULTIPLE_ACTIONS, WRONG_FENCE_LANGUAGE, TOOL_CALL_IN_CONTENT,
                      PLACEHOLDER_COPIED, EMPTY_ACTION)


class ReplyFormatError(ValueError):
    """A reply the scaffold cannot act on; `kind` is one of FORMAT_ERROR_KINDS, the text says what to do."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language tag (lower case, "" when none) and its body."""

    language: str
    body: str


@dataclass(frozen=True)
class ContentCall:
    """A tool call found in a reply's text; `form` says how it was written (json, tool_call, function_xml)."""

    name: str
    arguments: dict[str, Any] = field(hash=False)
    form: str


# a fence, its language tag, the body up to the next fence of the same length; lenient, as chat text is: a
# fence need not start a line, and a closing fence may end the body's last line
FENCE_RE = re.compile(r"(`{3,})[ \t]*([^\s`]*)[^\n`]*\n(.*?)\n?[ \t]*\1(?!`)", re.DOTALL)
TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
FUNCTION_RE = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|(?=<function=)|(?=</tool_call>)|\Z)", re.DOTALL)
PARAMETER_RE = re.compile(r"<parameter=([^>\s]+)>(.*?)(</parameter>|(?=<parameter=)|\Z)", re.DOTALL)


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of the reply, in order (an unclosed fence is no block)."""
    return [Block(lang.lower(), body) for _, lang, body in FENCE_RE.findall(text)]


def _one_newline_off(value: str) -> str:
    # as vLLM's qwen3_coder parser: the newline after the opening tag and before the closing one are layout
    value = value[1:] if value.startswith("\n") else value
    return value[:-1] if value.endswith("\n") else value


Span = tuple[ContentCall, int, int]  # a call and where its text starts and ends in the reply


def _xml_calls(text: str, offset: int = 0) -> list[Span]:
    calls = []
    for match in FUNCTION_RE.finditer(text):
        # an unclosed parameter (cut by a stop sequence, or never closed) has no layout newline to trust
        arguments = {key: _one_newline_off(value) if closed else value.strip("\n")
                     for key, value, closed in PARAMETER_RE.findall(match[2])}
        calls.append((ContentCall(match[1], arguments, "function_xml"), offset + match.start(), offset + match.end()))
    return calls


def _as_call(value: Any, form: str) -> ContentCall | None:
    """A JSON value shaped like a function call ({"name", "arguments" or "parameters"}), else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict) and value.get("type", "function") == "function":
        value = value["function"]  # the OpenAI wire shape, copied into the text
    name, arguments = value.get("name"), value.get("arguments", value.get("parameters"))
    if not isinstance(name, str) or not name or arguments is None:
        return None
    if isinstance(arguments, str):  # arguments as a JSON string, as the API's own field carries them
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    return ContentCall(name, arguments, form) if isinstance(arguments, dict) else None


def _json_calls(text: str, form: str, offset: int = 0) -> list[Span]:
    """Calls among the top-level JSON objects and arrays of the text (an array may hold several)."""
    decoder, calls, position = json.JSONDecoder(), [], 0
    while (start := _next_json_start(text, position)) >= 0:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        for item in value if isinstance(value, list) else [value]:
            if (call := _as_call(item, form)) is not None:
                calls.append((call, offset + start, offset + end))
        position = end
    return calls


def _next_json_start(text: str, position: int) -> int:
    starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
    return min(starts) if starts else -1


def _spans(text: str) -> list[Span]:
    calls: list[Span] = []
    masked = text
    for match in TOOL_CALL_RE.finditer(text):
        body, at = match[1], match.start(1)
        found = _xml_calls(body, at) if "<function=" in body else _json_calls(body, "tool_call", at)
        calls += [(call, match.start(), match.end()) for call, _, _ in found]  # the whole block is the call's text
        masked = masked[:match.start()] + " " * (match.end() - match.start()) + masked[match.end():]
    if "<function=" in masked:  # XML calls outside any <tool_call> block
        calls += _xml_calls(masked)
    if not calls:
        calls = _json_calls(text, "json")
    return sorted(calls, key=lambda span: span[1])


def content_tool_calls(text: str) -> list[ContentCall]:
    """The tool calls written in a reply's text, in order; [] when it holds none.

    `<tool_call>` blocks (their body is JSON or the XML form) and `<function=...>` blocks
    outside them; when there are none, JSON values shaped like calls anywhere in the text
    (bare, fenced, or inside other tags such as Qwen2.5-Coder's `<tools>`).
    """
    return [call for call, _, _ in _spans(text)]


EMPTY_FENCE_RE = re.compile(r"```[^\s`]*[ \t]*\n?\s*```")


def text_without_calls(text: str) -> str:
    """The reply with the calls' text taken out (the thought around them kept), for a history that carries
    the calls as `tool_calls` instead."""
    kept, position = [], 0
    for _, start, end in _spans(text):
        if start >= position:
            kept.append(text[position:start])
            position = end
    kept.append(text[position:])
    return EMPTY_FENCE_RE.sub("", "".join(kept)).strip()


def format_error_kind(text: str, fence: str, found: int) -> str:
    """The kind of format error of a reply in which a protocol's own regex found `found` actions (not one).

    For protocols that must keep their own parsing and messages (mini-swe-agent's): the kind
    only goes to the trajectory and the counts, so a report can tell the failures apart.
    """
    if found > 1:
        return MULTIPLE_ACTIONS
    if content_tool_calls(text):
        return TOOL_CALL_IN_CONTENT
    if any(block.language != fence for block in fenced_blocks(text)):
        return WRONG_FENCE_LANGUAGE
    return NO_ACTION


__all__ = ["Block", "ContentCall", "FORMAT_ERROR_KINDS", "ReplyFormatError", "content_tool_calls", "fenced_blocks",
           "format_error_kind", "text_without_calls", "EMPTY_ACTION", "MULTIPLE_ACTIONS", "NO_ACTION",
           "PLACEHOLDER_COPIED", "TOOL_CALL_IN_CONTENT", "WRONG_FENCE_LANGUAGE"]
