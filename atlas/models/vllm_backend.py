"""Local models served by vLLM: attach to a running server, or start and own `vllm serve`.

With `model.base_url` set, ATLAS attaches to that server. Without it, ATLAS runs `vllm serve`
with the preset's arguments (atlas.models.vllm_server) under atlas.models.server_process's
supervisor, its log in `<run dir>/vllm.log`, and stops it when the run ends. The server's exact
command line (secrets masked) and its /v1/models answer go into the manifest.

Either way the context window is the server's `max_model_len` as /v1/models reports it, and
each request sets every sampling parameter vLLM's generation config could change (top_k,
min_p, repetition_penalty, ...) explicitly, so the manifest's `sampling` is what the server
applied. A managed server also gets `--generation-config vllm` (no model defaults),
`--enable-prompt-tokens-details` (cached prompt tokens in usage) and an explicit prefix-cache
flag; a port already in use is refused before vLLM starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from atlas.config import ConfigError
from atlas.models.managed_model import ManagedServerModel
from atlas.models.openai_backend import OpenAIConfig
from atlas.models.server_process import ManagedServer
from atlas.models.vllm_server import VLLM, ServerConfig, default_sampling, serve_arguments
from atlas.planner import Architecture, Plan, plan


class VLLMConfig(OpenAIConfig):
    server: ServerConfig | None = None
    architecture: Architecture | None = None
    recommended_sampling: dict[str, Any] = Field({}, description="The publisher's recommended sampling, recorded "
                                                 "for reference and never sent: requests carry the keys above.")
    # vLLM's sampling knobs beyond the OpenAI API, sent with every request so that no default
    # (the model's generation config included) applies silently; the values here disable them
    top_k: int = Field(0, ge=-1, description="0 disables top-k.")
    min_p: float = Field(0.0, ge=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


SAMPLING_KNOBS = ("top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty")


class VLLMModel(ManagedServerModel):
    """vLLM's OpenAI server, attached to (`base_url`) or managed (`server`)."""

    settings_schema = VLLMConfig
    program = "vllm serve"
    sampling_knobs = SAMPLING_KNOBS

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.plan: Plan | None = None
        self._started_max_num_seqs: int | None = None
        self.generation_defaults: dict[str, Any] | None = None  # what vLLM took from the model's generation config

    def _sized_server(self) -> ServerConfig:
        """The server section, sized by the planner where the preset left the context unset.

        The plan pins the KV cache (--kv-cache-memory-bytes) rather than trusting the utilization
        share, which vLLM 0.26 exceeds by its CUDA-graph memory, and caps --max-num-seqs at the
        agents whose contexts fit together, so requests queue instead of preempting each other.
        """
        server, arch = self.settings.server, self.settings.architecture
        if server.max_model_len is not None or arch is None:
            return server
        self.plan = plan(arch, self.gpu, server.kv_cache_dtype)
        if not self.plan.fits:
            raise ConfigError(f"{self.name} does not fit gpu.vram_gb={self.gpu.vram_gb}: {self.plan.reason} "
                              "(see `atlas plan`)")
        return server.model_copy(update={
            "max_model_len": self.plan.agent_context,  # each agent's context, so the workers' contexts fit the KV cache
            "gpu_memory_utilization": server.gpu_memory_utilization or self.plan.gpu_memory_utilization,
            "kv_cache_memory_bytes": server.kv_cache_memory_bytes or self.plan.kv_cache_memory_bytes or None,
            "max_num_seqs": server.max_num_seqs or self.plan.recommended_workers or None,
            "max_num_batched_tokens": server.max_num_batched_tokens or self.plan.max_num_batched_tokens or None,
        })

    def open(self, run_dir: Path) -> None:
        settings = self.settings
        if settings.base_url:
            return super().open(run_dir)
        if settings.server is None or not settings.server.weights:
            raise ConfigError("set model.base_url to attach to a running server, or model.server.weights "
                              "for ATLAS to start vllm serve")
        server = self._sized_server()
        port = self.claim_port(server.host, server.port)
        base_url = f"http://{server.host}:{port}/v1"
        argv = serve_arguments(server, settings.model, port)
        self._started_max_num_seqs = server.max_num_seqs
        self.server = ManagedServer(argv, base_url, Path(run_dir) / "vllm.log", settings.server.env, settings.model,
                                    kind=VLLM)
        self.server.start(server.startup_timeout, server.stall_timeout, server.progress_interval)
        self.generation_defaults = default_sampling(self.server.log_text())
        self.connect(base_url)

    def server_slots(self) -> tuple[int, str] | None:
        """A managed server's --max-num-seqs (vLLM's /v1/models and /metrics do not report it)."""
        if self.server is not None and (seqs := self._started_max_num_seqs):
            return seqs, "vllm --max-num-seqs"
        return None

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.server is not None:
            # what vLLM took from the model's generation config; every request overrides these (see sampling)
            described["managed_server"]["generation_config_defaults"] = self.generation_defaults
        if self.plan is not None:
            described["vram_plan"] = vars(self.plan)
        return described
