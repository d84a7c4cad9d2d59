"""Settings and command line of a managed `vllm serve`, and how to read its log when it fails.

`serve_arguments` turns a preset's `model.server` section into the exact argv; `root_cause`
finds the first real exception in vLLM's log (skipping wrappers that only point elsewhere);
`default_sampling` reads the sampling defaults vLLM took from the model's generation config.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from atlas.models.server_process import ServerKind

class ServerConfig(BaseModel):
    """Arguments of a managed `vllm serve`; null values are left to vLLM (or the VRAM planner)."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] = ["vllm", "serve"]
    weights: str | None = Field(None, description="HF model id or local path of the weights.")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, description="0 picks a free port.")
    quantization: str | None = None
    dtype: str | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    kv_cache_memory_bytes: int | None = Field(
        None, gt=0, description="--kv-cache-memory-bytes: pins the KV cache, so CUDA graphs and activations outside "
                                "vLLM's utilization share cannot push the server past the card (the planner sets it).")
    kv_cache_dtype: str = "auto"
    enable_prefix_caching: bool = Field(True, description="Emits --enable-prefix-caching or --no-enable-prefix-caching.")
    enable_prompt_tokens_details: bool = Field(True, description="Usage reports cached prompt tokens only with it.")
    generation_config: str | None = Field(
        "vllm", description="--generation-config: 'vllm' ignores the model's sampling defaults; 'auto' applies "
                            "them; a folder reads one; null leaves vLLM's default (auto).")
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = Field(None, gt=0, description="--max-num-batched-tokens (the planner sets "
                                               "gpu.max_num_batched_tokens: the activation peak it measured with).")
    max_cudagraph_capture_size: int | None = Field(
        None, gt=0, description="--max-cudagraph-capture-size: the largest batch captured as a CUDA graph. vLLM "
                                "sizes it from max_num_seqs, except for models that override it (gpt-oss: 1,024).")
    speculative_config: dict[str, Any] | None = None
    tool_call_parser: str | None = None
    reasoning_parser: str | None = Field(None, description="--reasoning-parser: the model's reasoning comes back "
                                         "apart from its answer (and is left out of the history ATLAS sends back).")
    extra_args: list[str] = []
    env: dict[str, SecretStr] = Field({}, description="Environment of the server (HF_TOKEN ...); never written out.")
    startup_timeout: float = Field(1200, gt=0, description="Longest wait for /v1/models, downloads included.")
    stall_timeout: float | None = Field(600, gt=0, description="Fail the start when the log stops growing this long.")
    progress_interval: float = Field(30, gt=0, description="Seconds between start-up progress lines.")
    stop_timeout: float = Field(30, gt=0)


def serve_arguments(server: ServerConfig, served_name: str, port: int) -> list[str]:
    """The full `vllm serve` command line for a preset."""
    args = [*server.command, server.weights, "--host", server.host, "--port", str(port),
            "--served-model-name", served_name, "--kv-cache-dtype", server.kv_cache_dtype]
    optional = {"--quantization": server.quantization, "--dtype": server.dtype,
                "--max-model-len": server.max_model_len, "--gpu-memory-utilization": server.gpu_memory_utilization,
                "--kv-cache-memory-bytes": server.kv_cache_memory_bytes, "--max-num-seqs": server.max_num_seqs, "--max-num-batched-tokens": server.max_num_batched_tokens,
                "--max-cudagraph-capture-size": server.max_cudagraph_capture_size,
                "--tool-call-parser": server.tool_call_parser, "--reasoning-parser": server.reasoning_parser}
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    if server.tool_call_parser:
        args.append("--enable-auto-tool-choice")
    # vLLM V1 caches prefixes by default: turning it off needs the negative flag
    args.append("--enable-prefix-caching" if server.enable_prefix_caching else "--no-enable-prefix-caching")
    if server.enable_prompt_tokens_details:
        args.append("--enable-prompt-tokens-details")
    if server.generation_config is not None:
        args += ["--generation-config", server.generation_config]
    if server.speculative_config:
        args += ["--speculative-config", json.dumps(server.speculative_config)]
    return args + list(server.extra_args)


# a log line's prefix: "(EngineCore_DP0 pid=7) ERROR 11-25 10:00:00 [core.py:708] "
_LOG_PREFIX = re.compile(r"^(\([\w.-]+ pid=\d+\)\s*)?((DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+[\d-]+\s+[\d:.]+\s+"
                         r"\[[^\]]*\]\s*)?")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(:\s.*|:?)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # vLLM colours its process prefixes on a terminal
# exceptions that only point elsewhere ("See root cause above")
_WRAPPERS = ("Engine core initialization failed", "EngineCore failed to start", "Failed core proc")
_DEFAULT_SAMPLING = re.compile(r"Using default chat sampling params from model: (\{.*\})")


def root_cause(log_text: str) -> str | None:
    """The first exception line of a vLLM log (its prefix removed), skipping those that only point elsewhere."""
    log_text = _ANSI.sub("", log_text)
    for line in log_text.splitlines():
        text = _LOG_PREFIX.sub("", line).strip()
        if _EXCEPTION_LINE.match(text) and not any(w in text for w in _WRAPPERS):
            return text
    for line in log_text.splitlines():  # no traceback: the first line logged as an error
        if " ERROR " in f" {line} " and not any(w in line for w in _WRAPPERS):
            return _LOG_PREFIX.sub("", line).strip() or None
    return None


def default_sampling(log_text: str) -> dict[str, Any] | None:
    """The sampling defaults vLLM says it took from the model's generation config, if any."""
    match = _DEFAULT_SAMPLING.search(log_text)
    if match is None:
        return None
    try:
        return dict(ast.literal_eval(match.group(1)))
    except (ValueError, SyntaxError):
        return {"unparsed": match.group(1)}


VLLM = ServerKind("vllm serve", "Install vLLM (pip install 'atlas-swe[vllm]') or set model.base_url to a running server",
                  root_cause)
