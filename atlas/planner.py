"""How much context a quantized model gets on one GPU: weights + KV cache + overhead against VRAM.

    usable      = vram_gib * gpu_memory_utilization
    kv budget   = usable - weights_gib - overhead_gib        (overhead: CUDA context, activations, graphs)
    kv / token  = 2 (K and V) * layers * kv_heads * head_dim * bytes per KV element
    max context = kv budget / kv per token, capped by the model's max position, rounded down to 1024

The planner is what `atlas plan` prints, and what a managed `vllm serve` uses for
--max-model-len / --gpu-memory-utilization when the preset leaves them unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3
KV_BYTES = {"auto": 2, "fp16": 2, "bfloat16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
ROUND_TO = 1024


class Architecture(BaseModel):
    model_config = ConfigDict(extra="allow")
    weights_gb: float = Field(gt=0, description="Size of the quantized weights in GB (1e9 bytes), as published.")
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    max_position: int = Field(gt=0)


class GpuConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vram_gb: float = Field(24, gt=0, description="Card memory in GiB (a '24 GB' card has 24 GiB).")
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1)
    overhead_gib: float = Field(1.5, ge=0)
    min_context: int = Field(8192, gt=0, description="Below this an agent cannot work: report 'does not fit'.")


@dataclass
class Plan:
    weights_gib: float
    kv_bytes_per_token: int
    kv_budget_gib: float
    max_context: int
    gpu_memory_utilization: float
    fits: bool
    reason: str


def kv_bytes_per_token(arch: Architecture, kv_cache_dtype: str) -> int:
    if kv_cache_dtype not in KV_BYTES:
        raise ValueError(f"unknown kv_cache_dtype {kv_cache_dtype!r}; known: {', '.join(KV_BYTES)}")
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * KV_BYTES[kv_cache_dtype]


def plan(arch: Architecture, gpu: GpuConfig, kv_cache_dtype: str = "auto") -> Plan:
    weights_gib = arch.weights_gb * 1e9 / GIB
    per_token = kv_bytes_per_token(arch, kv_cache_dtype)
    budget_gib = gpu.vram_gb * gpu.gpu_memory_utilization - weights_gib - gpu.overhead_gib
    tokens = int(max(0.0, budget_gib) * GIB // per_token)
    context = min(tokens, arch.max_position) // ROUND_TO * ROUND_TO
    if budget_gib <= 0:
        reason = (f"the weights ({weights_gib:.2f} GiB) and overhead ({gpu.overhead_gib} GiB) exceed "
                  f"{gpu.gpu_memory_utilization:.0%} of {gpu.vram_gb} GiB")
    elif context < gpu.min_context:
        reason = f"only {tokens} tokens of KV cache fit, below the {gpu.min_context}-token minimum for an agent"
    else:
        reason = "fits" if tokens >= arch.max_position else f"KV cache for {tokens} tokens fits"
    return Plan(round(weights_gib, 3), per_token, round(budget_gib, 3), context, gpu.gpu_memory_utilization,
                context >= gpu.min_context, reason)
