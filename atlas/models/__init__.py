"""Model backends and the registry that builds one from `model.backend`.

Backends are imported when first asked for: the API SDKs take seconds to import, and most
commands (`atlas report`, `atlas plan`, a gold run) never need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from atlas.config import ConfigError, did_you_mean
from atlas.models.base import ContextLimitError, EmptyReplyError, Model, ModelError, ModelResponse, Usage
from atlas.planner import GpuConfig
from atlas.redaction import learn_environment, learn_secrets

BACKENDS: dict[str, str] = {
    "gold": "atlas.models.deterministic:GoldModel",
    "empty": "atlas.models.deterministic:EmptyModel",
    "scripted": "atlas.models.deterministic:ScriptedModel",
    "anthropic": "atlas.models.anthropic_backend:AnthropicModel",
    "openai": "atlas.models.openai_backend:OpenAICompatibleModel",
    "vllm": "atlas.models.vllm_backend:VLLMModel",
    "llamacpp": "atlas.models.llamacpp_backend:LlamaCppModel",
}


def backend_class(backend: str) -> type[Model]:
    if backend not in BACKENDS:
        raise ConfigError(f"model.backend {backend!r} is unknown{did_you_mean(backend, BACKENDS)}; "
                          f"choose one of: {', '.join(sorted(BACKENDS))}")
    module, name = BACKENDS[backend].split(":")
    return getattr(import_module(module), name)


def _keys_by_backend() -> dict[str, set[str]]:
    """Every backend's `model.*` keys: imports every backend, so it runs only to explain an error."""
    return {f"backend={name}": set(backend_class(name).settings_schema.model_fields) for name in BACKENDS}


def check_settings(config: dict[str, Any]) -> Any:
    """The `model.*` section checked against its backend's schema; unknown keys are refused with a hint."""
    return backend_class(str(config.get("backend"))).validate_settings(config, elsewhere=_keys_by_backend)


def make_model(config: dict[str, Any], scaffold: str = "bash", gpu: GpuConfig | None = None,
               reply_format: dict[str, str] | None = None, workers: int = 1) -> Model:
    """The backend `config` names, told which scaffold it serves (and how its replies look, for the
    scripted backends), on which GPU and for how many workers (a managed server gets a slot each)."""
    check_settings(config)  # every backend refuses unknown keys, the deterministic ones too
    learn_secrets(config)  # masked in every file written from now on
    # and what the process and a server it starts inherit: secret-named variables and the key's variable
    learn_environment(config.get("api_key_env"))
    model = backend_class(str(config.get("backend")))(config)
    model.scaffold = scaffold
    model.gpu = gpu or GpuConfig()
    model.reply_format = dict(reply_format or {})
    model.workers = workers
    return model


__all__ = ["BACKENDS", "check_settings", "ContextLimitError", "EmptyReplyError", "Model", "ModelError", "ModelResponse", "Usage", "make_model"]
