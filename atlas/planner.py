"""How much context a quantized model gets on one GPU: weights + KV cache + overhead against VRAM.

    usable      = vram_gib * gpu_memory_utilization
    kv budget   = usable - weights_gib - overhead_gib
    kv / token  = 2 (K and V) * layers * kv_heads * head_dim * bytes per KV element
    max context = kv budget / kv per token, capped by the model's max position, rounded down to 1024
    workers     = KV tokens / tokens an agent's context holds mid-run (gpu.agent_tokens)

`weights_gb` is what vLLM loads (its "Model loading took" line), which for AWQ checkpoints is
more than the quantized files: embeddings and the output head stay 16-bit. `overhead_gib` is
everything else the serving process holds besides weights and KV cache, calibrated on vLLM
0.26.0 (docs/performance.md): the activation peak of its profiling run, CUDA graphs (which
vLLM 0.26 keeps *outside* its --gpu-memory-utilization budget), non-torch allocations and the
CUDA context. `calibrate_overhead` recomputes it from one start's figures.

The planner is what `atlas plan` prints, and what a managed `vllm serve` uses for
--max-model-len / --gpu-memory-utilization when the preset leaves them unset;
`kv_cache_memory_bytes` is the KV budget for vLLM's --kv-cache-memory-bytes, which pins the KV
cache to the plan instead of letting vLLM size it from the utilization share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pydantic import BaseModel, ConfigDict, Field

from atlas.errors import BadInput

GIB = 1024**3
KV_BYTES = {"auto": 2, "fp16": 2, "bfloat16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
ROUND_TO = 1024


class Architecture(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters_b: float | None = Field(None, gt=0, description="Parameter count in billions (recorded, not used).")
    weights_gb: float = Field(gt=0, description="GB (1e9 bytes) of weights as vLLM loads them (its 'Model loading took' "
                                                "line), else as published.")
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    max_position: int = Field(gt=0)


class GpuConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vram_gb: float = Field(24, gt=0, description="Card memory in GiB (a '24 GB' card has 24 GiB).")
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1)
    overhead_gib: float = Field(4.0, ge=0, description="GiB the server holds besides weights and KV cache (activation "
                                "peak, CUDA graphs, non-torch memory, CUDA context); 4.0 measured with vLLM 0.26.0.")
    min_context: int = Field(8192, gt=0, description="Below this an agent cannot work: report 'does not fit'.")
    agent_tokens: int = Field(12_000, gt=0, description="Tokens an agent's context holds mid-run, for the "
                              "recommended number of workers whose contexts fit in the KV cache together.")


@dataclass
class Plan:
    weights_gib: float
    kv_bytes_per_token: int
    kv_budget_gib: float
    max_context: int
    gpu_memory_utilization: float
    fits: bool
    reason: str
    kv_tokens: int = 0  # tokens of KV cache the budget holds (all requests together)
    kv_cache_memory_bytes: int = 0  # the budget, for vLLM's --kv-cache-memory-bytes
    recommended_workers: int = 0  # agents whose contexts fit in the KV cache together


def calibrate_overhead(process_gib: float, weights_gib: float, kv_gib: float) -> float:
    """Overhead from one vLLM start: what the process held (nvidia-smi) minus weights and KV cache (its log)."""
    if min(process_gib, weights_gib, kv_gib) < 0 or process_gib < weights_gib + kv_gib:
        raise ValueError(f"process {process_gib} GiB cannot hold weights {weights_gib} GiB and KV {kv_gib} GiB")
    return round(process_gib - weights_gib - kv_gib, 3)


def recommended_workers(kv_tokens: int, agent_tokens: int) -> int:
    """Agents whose contexts all stay in the KV cache at once (at least 1 when anything fits).

    More workers than this still run, but their prefixes evict each other and each returning
    agent pays its whole prompt again as prefill.
    """
    if agent_tokens <= 0:
        raise ValueError("agent_tokens must be positive")
    return max(1, kv_tokens // agent_tokens) if kv_tokens > 0 else 0


def kv_bytes_per_token(arch: Architecture, kv_cache_dtype: str) -> int:
    if kv_cache_dtype not in KV_BYTES:
        raise BadInput(f"unknown kv_cache_dtype {kv_cache_dtype!r}; known: {', '.join(KV_BYTES)}")
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
    fits = context >= gpu.min_context
    return Plan(round(weights_gib, 3), per_token, round(budget_gib, 3), context, gpu.gpu_memory_utilization,
                fits, reason, kv_tokens=tokens, kv_cache_memory_bytes=int(max(0.0, budget_gib) * GIB),
                recommended_workers=recommended_workers(tokens, gpu.agent_tokens) if fits else 0)
