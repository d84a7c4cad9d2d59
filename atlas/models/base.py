"""The model interface every backend implements: messages in, one assistant message and its usage out.

Deterministic backends (gold, empty, scripted) and the served ones (vLLM, Anthropic,
any OpenAI-compatible server) share this contract, so scaffolds never know which
model they talk to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atlas.config import validate_section
from atlas.datasets import Instance
from atlas.errors import InfrastructureError
from atlas.models.tokens import estimate_messages
from atlas.planner import GpuConfig


class ModelError(InfrastructureError):
    """The model could not answer (server down, API error): an infrastructure failure, retried."""


class EmptyReplyError(ModelError):
    """The server answered with nothing: no content, no tool call, no reasoning (retried, then model_error)."""

    def __init__(self, message: str, empty: int = 1, usage: "Usage | None" = None):
        super().__init__(message)
        self.empty = empty  # empty replies in a row, this one included
        self.usage = usage  # what the server says the empty replies cost


class ContextLimitError(RuntimeError):
    """The request would not fit in the model's context window: an agent outcome, never retried."""


class Usage(BaseModel):
    """Tokens of one call, or of many added together."""

    prompt_tokens: int = 0  # every input token, cached ones included
    cached_prompt_tokens: int = 0  # of which read from a prompt cache
    cache_write_tokens: int = 0  # of which written to a prompt cache (Anthropic bills these apart)
    completion_tokens: int = 0  # every output token, thinking included
    thinking_tokens: int = 0  # of which spent thinking
    estimated: bool = Field(False, description="True when counted locally rather than reported by a server.")

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            thinking_tokens=self.thinking_tokens + other.thinking_tokens,
            estimated=self.estimated or other.estimated,
        )


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: str  # JSON text as the model wrote it; a scaffold validates it


class ModelResponse(BaseModel):
    """One assistant turn, normalized across backends."""

    content: str
    tool_calls: list[ToolCall] = []
    usage: Usage = Usage()
    cost_usd: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    finish_reason: str = "stop"
    extra: dict[str, Any] = {}


class BackendSettings(BaseModel):
    """The keys every backend takes; each backend's schema adds its own and refuses unknown ones."""

    model_config = ConfigDict(extra="forbid")
    name: str
    backend: str


class Model(ABC):
    """A backend. `for_instance` gives the object one agent talks to for one task."""

    settings_schema: type[BaseModel] = BackendSettings

    @classmethod
    def validate_settings(cls, config: dict[str, Any], elsewhere: Any = None) -> BaseModel:
        """The `model.*` section checked against this backend's schema (ConfigError names each bad key)."""
        return validate_section(cls.settings_schema, config, prefix="model.", elsewhere=elsewhere)

    def __init__(self, config: dict[str, Any]):
        self.config = config
        # set by the runner: the scaffold being driven and the GPU a local server runs on
        self.scaffold = "bash"
        self.gpu = GpuConfig()
        self.reply_format: dict[str, str] = {}  # the scaffold's reply conventions (fence, submit command)
        self.workers = 1  # agents of the run sharing this model (a managed server gets as many slots)

    @property
    def name(self) -> str:
        return str(self.config["name"])

    def for_instance(self, instance: Instance) -> "Model":
        """Served models answer any task; deterministic ones bind to one here."""
        return self

    def open(self, run_dir: Path) -> None:
        """Acquire run-level resources (start a server, check a key) before any instance runs."""

    @abstractmethod
    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        """One assistant turn for the conversation so far; `tools` are JSON-schema tool definitions."""

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> tuple[int, bool]:
        """(prompt tokens of this request, exact?): the fallback estimate unless a backend has a tokenizer."""
        return estimate_messages(messages, tools), False

    def server_slots(self) -> tuple[int, str] | None:
        """(requests the server computes at once, where that was read), after open(); None when unknown."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this model (secrets already removed)."""
        return dict(self.config)

    def accounting(self) -> dict[str, Any]:
        """Run-level figures for the manifest's totals (e.g. how long a GPU server was held)."""
        return {}

    def cancel(self) -> None:
        """The run is stopping: abort requests in flight (called from another thread; must not block)."""

    def close(self) -> None:
        """Release run-level resources (servers, connections)."""

