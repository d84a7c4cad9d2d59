"""Any OpenAI-compatible chat server: vLLM, llama.cpp's server, Ollama, LM Studio, SGLang.

Text completion and native tool calling share one call; streaming measures the time to
the first token. The context window is the server's own `max_model_len` when /v1/models
reports one (vLLM does), else `context_window` from the config. Before each request the
prompt is counted -- exactly through vLLM's /tokenize when `tokenize_endpoint` is on (skipped
while the conversation's growth since its last exact count surely fits: tokens.GrowthBound), else
with ATLAS's one fallback estimate (atlas.models.tokens) -- and a request that cannot fit
raises ContextLimitError instead of being truncated. A server's own refusal of an over-long
request (vLLM's serving-layer 400s, its V1 engine's "decoder prompt ... is longer than the
maximum model length", in a stream too) maps to the same error and is never retried.

An empty reply -- no content, no tool call, no reasoning -- is a server fault (a crashed slot, a
chat template that swallowed the answer), never the model's malformed turn: it is retried with
backoff like an overload, and if it persists the instance ends as `model_error`. Each reply
records how many empty ones it took (`empty_replies`). When a stream omits `usage`, the prompt
is counted from the request (the server's tokenizer where it has one, else the estimate,
marked estimated), never recorded as 0.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict, Field

from atlas.config import ConfigError
from atlas.costs import FreePricing, Pricing
from atlas.models.base import ContextLimitError, EmptyReplyError, Model, ModelError, ModelResponse, ToolCall, Usage
from atlas.models.tokens import GrowthBound, estimate_messages, estimate_text
from atlas.models.retry import call_with_retries
from atlas.redaction import remember_secret

# vLLM: "This model's maximum context length is M tokens. However, your request has N input tokens",
# "'max_tokens' or 'max_completion_tokens' is too large: X. This model's maximum context length is ...",
# V1 engine: "The decoder prompt (length N) is longer than the maximum model length of M"; others: llama.cpp, SGLang.
CONTEXT_MESSAGE = re.compile(r"maximum context length|maximum model length|context length|too many tokens"
                             r"|exceeds? the context|prompt is too long", re.I)


class OpenAIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    backend: str
    model: str = Field(description="The model id the server serves.")
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the key; none for local servers.")
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = Field(4096, gt=0)
    seed: int | None = 0
    stop: list[str] | None = None
    extra_body: dict[str, Any] = {}
    stream: bool = True
    timeout: float = Field(600, gt=0)
    retries: int = Field(4, ge=1)
    retry_initial_wait: float = Field(2.0, ge=0)
    context_window: int | None = Field(None, gt=0, description="Used only when the server reports no max_model_len.")
    tokenize_endpoint: bool = False
    reasoning_in_history: bool = Field(False, description=(
        "Send each earlier turn's reasoning back, as its assistant message's `reasoning` field. gpt-oss's harmony "
        "format keeps the reasoning that led to a tool call (vLLM renders it as the analysis channel and drops it "
        "again once a final answer follows); off, the history holds answers and tool calls only."))
    pricing: Pricing = FreePricing()


def _overflow(error: BaseException) -> bool:
    """A refusal because the request does not fit the context window, whatever status it came with."""
    return isinstance(error, openai.APIError) and bool(CONTEXT_MESSAGE.search(str(error.message)))


def _transient(error: BaseException) -> bool:
    if isinstance(error, EmptyReplyError):
        return True
    return isinstance(error, (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                              openai.APITimeoutError)) and not _overflow(error)


def check_not_empty(content: str, calls: list[ToolCall], reasoning: str, finish: str, usage: Usage,
                    latency: float) -> None:
    """Raise EmptyReplyError for a reply that carries nothing a scaffold could read."""
    if content.strip() or calls or reasoning.strip():
        return
    raise EmptyReplyError(f"the server sent an empty reply (no content, no tool call, no reasoning; "
                          f"finish_reason {finish!r}, {usage.completion_tokens} completion tokens"
                          f"{' (estimated)' if usage.estimated else ''}, {latency:.1f}s)", usage=usage)


def _reasoning(message: Any) -> str:
    """A message's or delta's reasoning text: vLLM and llama.cpp send `reasoning_content`, others `reasoning`."""
    extra = getattr(message, "model_extra", None) or {}
    return str(extra.get("reasoning_content") or extra.get("reasoning") or "")


def props_slots(props: dict[str, Any]) -> tuple[int, str] | None:
    """The slots a llama.cpp server's /props answer says it computes at once, with where that was read."""
    slots = props.get("total_slots")
    return (slots, "llama.cpp /props total_slots") if isinstance(slots, int) and slots > 0 else None


class OpenAICompatibleModel(Model):
    """A chat-completions endpoint; `base_url` points at it."""

    settings_schema: type[OpenAIConfig] = OpenAIConfig

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.settings = self.validate_settings(config)
        self.client: openai.OpenAI | None = None
        self.server_models: list[dict[str, Any]] = []
        # the window every check uses: the server's max_model_len once connect() reads it
        self.context_window: int | None = self.settings.context_window
        self.context_window_source = "model.context_window" if self.context_window else None
        self._growth = GrowthBound()  # each conversation's last exact count (/tokenize), reused and bounded from
        self._cancelled = False  # set by cancel(): a stopping run retries nothing

    def _api_key(self) -> str:
        variable = self.settings.api_key_env
        if variable is None:
            return "EMPTY"  # local servers ignore it, the SDK insists on one
        if not os.environ.get(variable):
            raise ConfigError(f"model.api_key_env names {variable}, which is not set in the environment")
        remember_secret(os.environ[variable])
        return os.environ[variable]

    def open(self, run_dir) -> None:
        if not self.settings.base_url:
            raise ConfigError("model.base_url must point at an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1)")
        self.connect(self.settings.base_url)

    def connect(self, base_url: str) -> None:
        """Create the client and check the server answers and serves the configured model."""
        self.client = openai.OpenAI(base_url=base_url, api_key=self._api_key(), timeout=self.settings.timeout,
                                    max_retries=0)
        try:
            listing = call_with_retries(self.client.models.list, _transient, attempts=3,
                                        initial_wait=self.settings.retry_initial_wait, what=f"GET {base_url}/models")
        except openai.APIStatusError as e:
            raise ModelError(f"{base_url} answered {e.status_code} to GET /models: {e.message}") from None
        self.server_models = [m.model_dump() for m in listing.data]
        served = [m["id"] for m in self.server_models]
        if self.settings.model not in served:
            raise ConfigError(f"model.model {self.settings.model!r} is not served by {base_url}; it serves: {', '.join(served)}")
        card = next(m for m in self.server_models if m["id"] == self.settings.model)
        if isinstance(card.get("max_model_len"), int) and card["max_model_len"] > 0:
            self.context_window = card["max_model_len"]  # what the server enforces, whatever the preset says
            self.context_window_source = "server /v1/models max_model_len"

    def cancel(self) -> None:
        """Close the HTTP client: requests in flight fail at once, and no retry starts after them."""
        self._cancelled = True
        if self.client is not None:
            self.client.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def sampling(self) -> dict[str, Any]:
        """Every sampling parameter each request sets explicitly (so no server default applies to it)."""
        s = self.settings
        params: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            params["seed"] = s.seed
        if s.stop:
            params["stop"] = s.stop
        return {**params, **s.extra_body}

    def describe(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "context_window": self.context_window,
                "context_window_configured": self.settings.context_window,
                "context_window_source": self.context_window_source, "sampling": self.sampling(),
                "server_models": self.server_models}

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> tuple[int, bool]:
        """(tokens, exact): vLLM's /tokenize (the model's tokenizer and chat template) when enabled, else the fallback."""
        messages = self.outgoing(messages)
        if self.settings.tokenize_endpoint and self.client is not None:
            if (counted := self._growth.exact(messages, tools)) is not None:
                return counted, True  # the scaffold's check and the pre-check count the same request once
            try:
                count = self._server_count(messages, tools)
                self._growth.remember(messages, tools, count)
                return count, True
            except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError):
                pass  # a server without /tokenize: fall back to the estimate
        return estimate_messages(messages, tools), False

    def _server_root(self) -> str:
        return str(self.client.base_url).rstrip("/").removesuffix("/v1")

    def server_slots(self) -> tuple[int, str] | None:
        """What an attached server says it computes at once, where it says so: llama.cpp's /props total_slots
        (servers without /props, vLLM's among them, leave it unknown)."""
        if self.client is None:
            return None
        try:
            with urllib.request.urlopen(f"{self._server_root()}/props", timeout=min(self.settings.timeout, 10)) as reply:
                return props_slots(json.loads(reply.read()))
        except (urllib.error.URLError, OSError, ValueError, AttributeError):
            return None

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to the server's root (not /v1) and read its JSON answer."""
        body = json.dumps(payload, default=str).encode()
        request = urllib.request.Request(f"{self._server_root()}{path}", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.settings.timeout) as reply:
            return json.loads(reply.read())

    def _server_count(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """The request's prompt tokens by the server's tokenizer and chat template (vLLM's /tokenize)."""
        payload: dict[str, Any] = {"model": self.settings.model, "messages": messages}
        if tools:
            payload["tools"] = tools
        return int(self._post("/tokenize", payload)["count"])

    def _server_count_text(self, text: str) -> int | None:
        """Tokens of a reply's text by the server's tokenizer, or None where it has no such endpoint."""
        try:
            return int(self._post("/tokenize", {"model": self.settings.model, "prompt": text,
                                                "add_special_tokens": False})["count"])
        except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError):
            return None

    def _check_context(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        window = self.context_window
        if window is None:
            return
        if self.settings.tokenize_endpoint:
            bound = self._growth.upper_bound(messages, tools)
            if bound is not None and bound + self.settings.max_tokens <= window:
                return  # the history grew from an exact count by less than the room left: it fits
        tokens, exact = self.count_tokens(messages, tools)
        if tokens + self.settings.max_tokens > window:
            how = "" if exact else "about "
            raise ContextLimitError(f"the prompt is {how}{tokens} tokens; with max_tokens {self.settings.max_tokens} "
                                    f"it exceeds the context window of {window} ({self.context_window_source})")

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        s = self.settings
        request: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": s.temperature,
                                   "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            request["seed"] = s.seed
        if s.stop:
            request["stop"] = s.stop
        if extra := self._extra_body():
            request["extra_body"] = extra
        if tools:
            request["tools"] = tools
        if s.stream:
            request.update(stream=True, stream_options={"include_usage": True})
        return request

    def _extra_body(self) -> dict[str, Any]:
        """Fields beyond the OpenAI API sent in each request body (vLLM adds its sampling knobs)."""
        return dict(self.settings.extra_body)

    def outgoing(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The history as this server gets it: earlier turns' reasoning only where `reasoning_in_history` says so."""
        if self.settings.reasoning_in_history or not any("reasoning" in m for m in messages):
            return messages
        return [{k: v for k, v in m.items() if k != "reasoning"} if "reasoning" in m else m for m in messages]

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        if self.client is None:
            raise ModelError("query() before open(): the model has no server")
        messages = self.outgoing(messages)
        self._check_context(messages, tools)
        request = self._request(messages, tools)
        empty, wasted = 0, Usage()

        def attempt() -> ModelResponse:
            nonlocal empty, wasted
            try:
                return self._call(request, messages, tools)
            except EmptyReplyError as e:
                empty, wasted = empty + 1, wasted + (e.usage or Usage())
                raise

        try:
            response = call_with_retries(attempt, lambda e: _transient(e) and not self._cancelled,
                                         attempts=self.settings.retries,
                                         initial_wait=self.settings.retry_initial_wait, what=f"{self.name} request")
            response.extra["empty_replies"] = empty
            if empty:  # tokens the server spent on the empty replies: metered apart from this reply's own
                response.extra["empty_reply_usage"] = wasted.model_dump()
            return response
        except ModelError as e:
            if isinstance(e.__cause__, EmptyReplyError):
                raise EmptyReplyError(f"{self.name}: {e.__cause__} -- {empty} time(s) in a row, so the server is at "
                                      "fault (see its log); the instance ends as model_error, not as a format "
                                      "error", empty=empty, usage=wasted) from None
            raise
        except openai.APIError as e:
            if _overflow(e):  # a 400, a 500 or an error event in the stream alike
                raise ContextLimitError(str(e.message)) from None
            if isinstance(e, openai.BadRequestError):
                raise ModelError(f"{self.name}: the server rejected the request: {e.message}") from None
            if isinstance(e, openai.APIStatusError):
                raise ModelError(f"{self.name}: HTTP {e.status_code}: {e.message}") from None
            raise ModelError(f"{self.name}: {type(e).__name__}: {e.message}") from None

    def _call(self, request: dict[str, Any], messages: list[dict[str, Any]],
              tools: list[dict[str, Any]] | None) -> ModelResponse:
        started = time.monotonic()
        if request.get("stream"):
            content, calls, finish, usage, ttft, reasoning = self._read_stream(
                self.client.chat.completions.create(**request), started)
        else:
            reply = self.client.chat.completions.create(**request)
            choice = reply.choices[0]
            content, finish, ttft = choice.message.content or "", choice.finish_reason or "stop", None
            calls = [ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                     for c in choice.message.tool_calls or []]
            reasoning = _reasoning(choice.message)
            usage = reply.usage
        latency = time.monotonic() - started
        normalized = self._usage(usage) if usage is not None else self._counted_usage(messages, tools, content, calls)
        check_not_empty(content, calls, reasoning, finish, normalized, latency)
        extra = {"tokens_per_s": round(normalized.completion_tokens / latency, 2) if latency > 0 else None}
        if reasoning:
            extra["reasoning"] = reasoning
            if not normalized.thinking_tokens:
                normalized.thinking_tokens, extra["thinking_tokens_counted"] = self._reasoning_tokens(reasoning, normalized)
        return ModelResponse(
            content=content, tool_calls=calls, usage=normalized, latency_s=latency, ttft_s=ttft,
            finish_reason=finish, cost_usd=self.settings.pricing.cost(normalized, gpu_seconds=latency), extra=extra,
        )

    def _reasoning_tokens(self, reasoning: str, usage: Usage) -> tuple[int, str]:
        """Tokens of reasoning a server returned without counting them (vLLM 0.26's chat completions carry no
        reasoning_tokens): the server's tokenizer where it has /tokenize, else the estimate; never more than
        the completion. Returns (tokens, how they were counted)."""
        exact = self._server_count_text(reasoning) if self.settings.tokenize_endpoint else None
        tokens, how = (exact, "server /tokenize") if exact is not None else (estimate_text(reasoning), "estimate")
        return min(tokens, usage.completion_tokens) if usage.completion_tokens else tokens, how

    def _counted_usage(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, content: str,
                       calls: list[ToolCall]) -> Usage:
        """Usage a server did not report: counted from the request and the reply (exact where it can tokenize)."""
        prompt, exact = self.count_tokens(messages, tools)
        text = content + "".join(c.name + c.arguments for c in calls)
        completion = self._server_count_text(text) if self.settings.tokenize_endpoint and text else None
        if completion is None:
            completion, exact = estimate_text(text), False
        return Usage(prompt_tokens=prompt, completion_tokens=completion, estimated=not exact)

    @staticmethod
    def _read_stream(stream, started: float):
        content, finish, usage, ttft, reasoning = [], "stop", None, None, []
        calls: dict[int, dict[str, str]] = {}
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                delta = choice.delta
                thought = _reasoning(delta)
                if ttft is None and (delta.content or delta.tool_calls or thought):
                    ttft = time.monotonic() - started
                if delta.content:
                    content.append(delta.content)
                if thought:
                    reasoning.append(thought)
                for call in delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = call.id or slot["id"]
                    if call.function is not None:
                        slot["name"] = call.function.name or slot["name"]
                        slot["arguments"] += call.function.arguments or ""
                if choice.finish_reason:
                    finish = choice.finish_reason
        tool_calls = [ToolCall(**calls[i]) for i in sorted(calls)]
        return "".join(content), tool_calls, finish, usage, ttft, "".join(reasoning)

    @staticmethod
    def _usage(usage) -> Usage:
        details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        return Usage(
            prompt_tokens=usage.prompt_tokens or 0,
            cached_prompt_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0,
            completion_tokens=usage.completion_tokens or 0,
            thinking_tokens=(getattr(completion_details, "reasoning_tokens", None) or 0) if completion_details else 0,
        )
