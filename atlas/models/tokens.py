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

`GrowthBound` spares the backend's pre-check a /tokenize round trip (tens of milliseconds for a
long history on a busy server) while it is sure the request fits: an agent's history only grows,
and what a turn appends costs at most its UTF-8 bytes in tokens (byte-level BPE and byte-fallback
tokenizers never spend more than one token a byte) plus a chat template's few tokens a message.
Near the window the exact count is asked for again, so nothing is refused on a bound.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
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


class GrowthBound:
    """Upper bounds on a growing conversation's tokens from its last exact count (see the module docstring).

    Conversations are told apart by their tools and first two messages (the system prompt and the
    task), so agents sharing one model each keep their own count; the oldest are forgotten."""

    PER_MESSAGE = 16  # a chat template's tokens around one message (role markers, tool-response wrappers)

    def __init__(self, keep: int = 256):
        self._counts: OrderedDict[str, tuple[int, str, int]] = OrderedDict()  # key -> (messages, digest, tokens)
        self._keep, self._lock = keep, threading.Lock()

    @staticmethod
    def _key(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        return hashlib.sha1(_json([tools, messages[:2]]).encode()).hexdigest()

    @staticmethod
    def _digest(messages: list[dict[str, Any]]) -> str:
        return hashlib.sha1(_json(messages).encode()).hexdigest()

    def remember(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, tokens: int) -> None:
        """Record an exact count of this request."""
        key = self._key(messages, tools)
        with self._lock:
            self._counts[key] = (len(messages), self._digest(messages), tokens)
            self._counts.move_to_end(key)
            while len(self._counts) > self._keep:
                self._counts.popitem(last=False)

    def _known(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> tuple[int, int] | None:
        """(messages, tokens) of this conversation's last exact count, when those messages begin this request."""
        with self._lock:
            known = self._counts.get(self._key(messages, tools))
        if known is None:
            return None
        count, digest, tokens = known
        if len(messages) < count or self._digest(messages[:count]) != digest:
            return None  # not the same history grown (elided, rewritten): only an exact count will do
        return count, tokens

    def exact(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int | None:
        """The exact count of this very request, when it is the one last counted (the scaffold's check, then the pre-check)."""
        known = self._known(messages, tools)
        return known[1] if known is not None and known[0] == len(messages) else None

    def upper_bound(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int | None:
        """At least the request's exact token count, or None when no earlier count is a prefix of it."""
        known = self._known(messages, tools)
        if known is None:
            return None
        count, tokens = known
        return tokens + sum(len(_json(m).encode()) + self.PER_MESSAGE for m in messages[count:])
