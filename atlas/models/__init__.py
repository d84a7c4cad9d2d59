"""Model backends and the registry that builds one from `model.backend`."""

from __future__ import annotations

from typing import Any

from atlas.config import ConfigError
from atlas.models.anthropic_backend import AnthropicModel
from atlas.models.base import ContextLimitError, Model, ModelError, ModelResponse, Usage
from atlas.models.deterministic import EmptyModel, GoldModel, ScriptedModel
from atlas.models.openai_backend import OpenAICompatibleModel
from atlas.models.vllm_backend import VLLMModel

BACKENDS: dict[str, type[Model]] = {
    "gold": GoldModel,
    "empty": EmptyModel,
    "scripted": ScriptedModel,
    "anthropic": AnthropicModel,
    "openai": OpenAICompatibleModel,
    "vllm": VLLMModel,
}


def make_model(config: dict[str, Any]) -> Model:
    backend = config.get("backend")
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend {backend!r} is unknown; choose one of: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[backend](config)


__all__ = ["BACKENDS", "ContextLimitError", "Model", "ModelError", "ModelResponse", "Usage", "make_model"]
