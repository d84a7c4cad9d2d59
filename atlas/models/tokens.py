"""The one way ATLAS counts tokens: the server's tokenizer when it has one, else one documented estimate.

Exact: a vLLM server counts a request with the model's own tokenizer and chat template at
POST /tokenize (`Model.count_tokens` on the OpenAI-compatible and vLLM backends, with
`model.tokenize_endpoint` on). Every other count -- backends without such an endpoint
(Anthropic, llama.cpp), scripted models, the scaffold's context budget before a call, usage
a server did not report -- uses `estimate_messages` / `estimate_text` below, and nothing else:

    tokens = len(text) // 4   (at least 1 for non-empty text)

where `text` is every message's content (text parts of a list content joined), each
message's tool calls as JSON, and the tool definitions as JSON, concatenated. Four
characters a token is the usual figure for English and code under BPE tokenizers; it
ignores the chat template's few tokens a message. The scaffold rescales it by the ratio a
server last reported (see atlas.agents.context), so the estimate is only the first guess.
"""

from __future__ import annotations

import json
from typing import Any

CHARS_PER_TOKEN = 4


def estimate_text(text: str) -> int:
    """The fallback estimate of one text."""
    return max(1, len(text) // CHARS_PER_TOKEN) if text else 0


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o))


def message_text(message: dict[str, Any]) -> str:
    """The part of a message that costs tokens: its content and any tool calls it makes."""
    content = message.get("content")
    if isinstance(content, list):  # content parts: count the text, the rest as JSON
        text = "".join(p.get("text", "") if isinstance(p, dict) and p.get("type") == "text" else _json(p)
                       for p in content)
    else:
        text = str(content or "")
    if message.get("tool_calls"):
        text += _json(message["tool_calls"])
    return text


def estimate_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """The fallback estimate of a whole request: messages, their tool calls, and the tool definitions."""
    return estimate_text("".join(message_text(m) for m in messages) + (_json(tools) if tools else ""))
