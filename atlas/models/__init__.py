"""Model backends and the registry that builds one from `model.backend`."""

from __future__ import annotations

from typing import Any

from atlas.config import ConfigError
from atlas.planner import GpuConfig
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


def make_model(config: dict[str, Any], scaffold: str = "bash", gpu: GpuConfig | None = None) -> Model:
    """The backend `config` names, told which scaffold it serves and on which GPU (for local servers)."""
    backend = config.get("backend")
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend {backend!r} is unknown; choose one of: {', '.join(sorted(BACKENDS))}")
    model = BACKENDS[backend](config)
    model.scaffold = scaffold
    model.gpu = gpu or GpuConfig()
    return model


__all__ = ["BACKENDS", "ContextLimitError", "Model", "ModelError", "ModelResponse", "Usage", "make_model"]
