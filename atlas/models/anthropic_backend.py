"""Claude through the Anthropic Messages API, with prompt caching, extended thinking and native tools.

Scaffolds speak the OpenAI-style history every backend accepts (system/user/assistant
messages, assistant `tool_calls`, `tool` results); this module turns it into the
Anthropic wire format and the reply back into a ModelResponse.

The API key is read from the environment variable named by `api_key_env` and is handed
only to the SDK client: it never enters the config, describe(), logs or error messages.

Context check: before sending, the prompt is estimated with ATLAS's one fallback estimate
(atlas.models.tokens, over messages and tools) rather than with the API's `count_tokens`,
which would cost a second request per turn; the server's own "prompt is too long"
answer stays the authority and maps to ContextLimitError as well.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Literal

import anthropic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from atlas.config import ConfigError
from atlas.redaction import remember_secret
from atlas.costs import ApiPricing
from atlas.models.base import ContextLimitError, Model, ModelError, ModelResponse, ToolCall, Usage
from atlas.models.tokens import estimate_text
from atlas.models.retry import call_with_retries

CACHE = {"type": "ephemeral"}
# "prompt is too long: N tokens > M maximum" and, since 3.7, "input length and `max_tokens` exceed context limit".
CONTEXT_LIMIT_RE = re.compile(r"prompt is too long|exceed context limit", re.IGNORECASE)
TRANSIENT = (anthropic.RateLimitError, anthropic.InternalServerError, anthropic.APIConnectionError)


class AnthropicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    backend: Literal["anthropic"]
    model: str = Field(description="The API model id, e.g. claude-sonnet-4-20250514.")
    max_tokens: int = Field(8192, gt=0, description="Output tokens per turn, thinking included.")
    temperature: float = Field(0.0, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    thinking_budget: int = Field(0, ge=0, description="Extended-thinking tokens per turn; 0 = off.")
    prompt_caching: bool = True
    base_url: str | None = Field(None, description="null = the SDK default (api.anthropic.com).")
    api_key_env: str = "ANTHROPIC_API_KEY"
    timeout: float = Field(600.0, gt=0, description="Seconds per HTTP request.")
    retries: int = Field(6, ge=1, description="Attempts per query, the first included.")
    retry_initial_wait: float = Field(2.0, ge=0, description="Seconds before the first retry; doubles after.")
    context_window: int | None = Field(200_000, gt=0)
    pricing: ApiPricing

    @model_validator(mode="after")
    def _thinking_fits(self) -> "AnthropicConfig":
        # The API's rules for extended thinking, checked here so a bad preset stops the run up front.
        if self.thinking_budget and not 1024 <= self.thinking_budget < self.max_tokens:
            raise ValueError("thinking_budget must be 0 or at least 1024 and below max_tokens")
        if self.thinking_budget and self.top_p is not None and self.top_p < 0.95:
            raise ValueError("with thinking_budget > 0 the API accepts top_p only from 0.95 to 1")
        return self


class AnthropicModel(Model):
    """One SDK client shared by every instance of the run (the SDK client is thread-safe)."""

    settings_schema = AnthropicConfig

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.settings: AnthropicConfig = self.validate_settings(config)
        key = os.environ.get(self.settings.api_key_env, "")
        if not key:
            raise ConfigError(f"model {self.settings.name!r}: environment variable {self.settings.api_key_env} "
                              "is not set; it must hold the Anthropic API key")
        self._key = key
        self._cancelled = False  # set by cancel(): a stopping run retries nothing
        remember_secret(key)  # masked in every file ATLAS writes
        # max_retries=0: tenacity (call_with_retries) is the only retry layer, so `retries` means what it says.
        self._client = anthropic.Anthropic(api_key=key, base_url=self.settings.base_url,
                                           timeout=self.settings.timeout, max_retries=0)

    def describe(self) -> dict[str, Any]:
        described = self.settings.model_dump()
        if self.settings.thinking_budget:
            described["temperature"] = 1.0
            described["configured_temperature"] = self.settings.temperature
            described["temperature_note"] = "forced to 1: the API requires it with extended thinking"
        return described

    def cancel(self) -> None:
        """Close the SDK client: requests in flight fail at once, and no retry starts after them."""
        self._cancelled = True
        self._client.close()

    def close(self) -> None:
        self._client.close()

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        self._check_context(messages, tools)
        request = self._request(messages, tools)
        started = time.monotonic()
        message = self._send(request)
        # Latency is what the agent waited, retries included.
        return self._response(message, time.monotonic() - started)

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        system, turns = to_anthropic(messages)
        if self.settings.prompt_caching:
            mark_cache_breakpoints(system, turns)
        s = self.settings
        request: dict[str, Any] = {"model": s.model, "max_tokens": s.max_tokens, "messages": turns}
        if system:
            request["system"] = system
        if tools:
            request["tools"] = [to_anthropic_tool(tool) for tool in tools]
        if s.thinking_budget:
            request["thinking"] = {"type": "enabled", "budget_tokens": s.thinking_budget}
        # messages.create() in anthropic 2.12 has no temperature/top_p arguments; these models still read them.
        sampling = {"temperature": 1.0 if s.thinking_budget else s.temperature}
        if s.top_p is not None:
            sampling["top_p"] = s.top_p
        request["extra_body"] = sampling
        return request

    def _check_context(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> None:
        window = self.settings.context_window
        if window is None:
            return
        prompt, _ = self.count_tokens(messages, tools)  # ATLAS's one estimate (atlas.models.tokens)
        if prompt + self.settings.max_tokens > window:
            raise ContextLimitError(f"prompt of about {prompt} tokens + max_tokens {self.settings.max_tokens} "
                                    f"exceeds the context window of {window} tokens")

    def _send(self, request: dict[str, Any]) -> Any:
        what = f"{self.name} ({self.settings.model})"
        try:
            return call_with_retries(lambda: self._client.messages.create(**request),
                                     lambda e: isinstance(e, TRANSIENT) and not self._cancelled,
                                     attempts=self.settings.retries,
                                     initial_wait=self.settings.retry_initial_wait, what=what)
        except ModelError as e:
            # Re-raised without the SDK exception attached: it carries the request, key header included.
            raise ModelError(self._redact(str(e))) from None
        except anthropic.APIStatusError as e:
            detail = self._redact(f"{e.message} (request id {e.request_id})")
            if e.status_code == 400 and CONTEXT_LIMIT_RE.search(e.message):
                raise ContextLimitError(f"{what}: {detail}") from None
            raise ModelError(f"{what}: {type(e).__name__}: {detail}") from None
        except anthropic.AnthropicError as e:
            raise ModelError(f"{what}: {type(e).__name__}: {self._redact(str(e))}") from None

    def _redact(self, text: str) -> str:
        """Guards against a server or proxy echoing the key back into an error body."""
        return text.replace(self._key, "<redacted>")

    def _response(self, message: Any, latency: float) -> ModelResponse:
        texts, thinking, tool_calls = [], [], []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type in ("thinking", "redacted_thinking"):
                thinking.append(block.model_dump(exclude_none=True))
            elif block.type == "tool_use":
                tool_calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input)))
        usage = to_usage(message.usage, thinking)
        return ModelResponse(
            content="".join(texts), tool_calls=tool_calls, usage=usage, cost_usd=self.settings.pricing.cost(usage),
            latency_s=latency, finish_reason=message.stop_reason or "stop",
            extra={"thinking": thinking, "model": message.model, "request_id": message._request_id},
        )


def to_usage(reported: Any, thinking: list[dict[str, Any]]) -> Usage:
    """Anthropic counts cached input apart from `input_tokens`; ATLAS's prompt total includes it."""
    cache_read = reported.cache_read_input_tokens or 0
    cache_write = reported.cache_creation_input_tokens or 0
    return Usage(
        prompt_tokens=reported.input_tokens + cache_read + cache_write,
        cached_prompt_tokens=cache_read,
        cache_write_tokens=cache_write,
        completion_tokens=reported.output_tokens,
        thinking_tokens=thinking_tokens(reported, thinking),
    )


def thinking_tokens(reported: Any, thinking: list[dict[str, Any]]) -> int:
    """The server's count where it gives one, else ~len/4 of the returned (possibly summarized) thinking text."""
    details = getattr(reported, "output_tokens_details", None)
    if details is not None:
        return details.thinking_tokens
    estimate = sum(estimate_text(block.get("thinking", "")) for block in thinking)
    return min(estimate, reported.output_tokens)


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns): system messages lifted out, same-role neighbours merged into one turn."""
    system = [text_block(m["content"]) for m in messages if m["role"] == "system" and m["content"]]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        role = "assistant" if message["role"] == "assistant" else "user"  # tool results travel in user turns
        blocks = content_blocks(message)
        if not blocks:
            continue  # the API rejects empty turns; dropping one lets its neighbours merge
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One ATLAS/OpenAI message as Anthropic content blocks (empty text dropped: the API rejects it)."""
    content = message.get("content") or ""
    if message["role"] == "tool":
        return [{"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": content}]
    # Thinking blocks handed back (from a previous extra["thinking"]) go first, as the API requires with tools.
    blocks = [dict(block) for block in message.get("thinking") or []] if message["role"] == "assistant" else []
    if content:
        blocks.append(text_block(content))
    for call in message.get("tool_calls") or []:
        blocks.append(tool_use_block(call))
    return blocks


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style tool call ({id, function: {name, arguments}}) or a dumped ToolCall ({id, name, arguments})."""
    function = call.get("function", call)
    arguments = function.get("arguments") or "{}"
    return {"type": "tool_use", "id": call["id"], "name": function["name"],
            "input": json.loads(arguments) if isinstance(arguments, str) else arguments}


def to_anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """{"type": "function", "function": {name, description, parameters}} -> {name, description, input_schema}."""
    function = tool.get("function", tool)
    converted = {"name": function["name"],
                 "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def mark_cache_breakpoints(system: list[dict[str, Any]], turns: list[dict[str, Any]]) -> None:
    """cache_control on the system prompt and on the last block of the two latest user turns (3 of the 4 allowed).

    The latest user turn writes the cache for the next query; the one before it reads
    what the previous query wrote, however many blocks (parallel tool results) came
    after it -- the API only looks about 20 blocks back from a breakpoint on its own.
    """
    if system:
        system[-1]["cache_control"] = CACHE
    user_turns = [turn for turn in turns if turn["role"] == "user"]
    for turn in user_turns[-2:]:
        turn["content"][-1]["cache_control"] = CACHE
