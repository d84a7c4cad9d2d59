"""Model backends and the registry that builds one from `model.backend`.

Backends are imported when first asked for: the API SDKs take seconds to import, and most
commands (`atlas report`, `atlas plan`, a gold run) never need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from atlas.config import ConfigError
from atlas.models.base import ContextLimitError, Model, ModelError, ModelResponse, Usage
from atlas.planner import GpuConfig

BACKENDS: dict[str, str] = {
    "gold": "atlas.models.deterministic:GoldModel",
    "empty": "atlas.models.deterministic:EmptyModel",
    "scripted": "atlas.models.deterministic:ScriptedModel",
    "anthropic": "atlas.models.anthropic_backend:AnthropicModel",
    "openai": "atlas.models.openai_backend:OpenAICompatibleModel",
    "vllm": "atlas.models.vllm_backend:VLLMModel",
}


def backend_class(backend: str) -> type[Model]:
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend {backend!r} is unknown; choose one of: {', '.join(sorted(BACKENDS))}")
    module, name = BACKENDS[backend].split(":")
    return getattr(import_module(module), name)


def make_model(config: dict[str, Any], scaffold: str = "bash", gpu: GpuConfig | None = None,
               reply_format: dict[str, str] | None = None) -> Model:
    """The backend `config` names, told which scaffold it serves (and how its replies look, for the
    scripted backends) and on which GPU (for local servers)."""
    model = backend_class(str(config.get("backend")))(config)
    model.scaffold = scaffold
    model.gpu = gpu or GpuConfig()
    model.reply_format = dict(reply_format or {})
    return model


__all__ = ["BACKENDS", "ContextLimitError", "Model", "ModelError", "ModelResponse", "Usage", "make_model"]
