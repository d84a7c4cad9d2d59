"""How much context a quantized model gets on one GPU: weights + KV cache + overhead against VRAM.

    usable      = vram_gib * gpu_memory_utilization        (what the serving process may hold)
    kv budget   = usable - weights_gib - overhead_gib
    kv / token  = 2 (K and V) * layers * kv_heads * head_dim * bytes per KV element
    max context = kv budget / kv per token, capped by the model's max position, rounded down to 1024
    workers     = KV tokens / tokens an agent's context holds on average (gpu.agent_tokens)

`weights_gb` is what vLLM loads (its "Model loading took" line), which for AWQ checkpoints is
more than the quantized files: embeddings and the output head stay 16-bit. The overhead is
everything else the serving process holds besides weights and KV cache: the activation peak of
vLLM's profiling run (set by --max-num-batched-tokens), CUDA graphs (which vLLM 0.26 keeps
*outside* its --gpu-memory-utilization share), non-torch allocations and the CUDA context. It
is measured per preset (`architecture.overhead_gib`, with ATLAS's own server flags, on vLLM
0.26.0: docs/performance.md); `fit_overhead` derives it from measured starts, and
`gpu.overhead_gib` overrides it.

The planner is what `atlas plan` prints, and what a managed `vllm serve` is started with when
the preset leaves the context unset: --kv-cache-memory-bytes pins the KV cache to the plan (so
vLLM's KV tokens are the plan's, not a share of whatever profiling measured), and
--max-num-batched-tokens / --max-num-seqs fix the activation and CUDA-graph sizes the overhead
was measured with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pydantic import BaseModel, ConfigDict, Field

from atlas.errors import BadInput

GIB = 1024**3
FALLBACK_OVERHEAD_GIB = 4.0  # vLLM 0.26's H100 defaults (8,192 batched tokens, 51 CUDA graphs): presets without a measurement
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
    overhead_gib: float | None = Field(None, ge=0, description="GiB the server holds besides weights and KV cache, "
                                       "measured for this model with ATLAS's server flags (fit_overhead).")


class GpuConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vram_gb: float = Field(24, gt=0, description="Card memory in GiB (a '24 GB' card has 24 GiB).")
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1)
    overhead_gib: float | None = Field(None, ge=0, description="GiB the server holds besides weights and KV cache "
                                       "(activation peak, CUDA graphs, non-torch memory, CUDA context); null: the "
                                       f"preset's measured architecture.overhead_gib, else {FALLBACK_OVERHEAD_GIB}.")
    max_num_batched_tokens: int = Field(2048, gt=0, description="--max-num-batched-tokens of a managed server: "
                                        "sets the activation peak the overhead was measured with.")
    min_context: int = Field(8192, gt=0, description="Below this an agent cannot work: report 'does not fit'.")
    agent_tokens: int = Field(24_000, gt=0, description="KV tokens to count per agent for the workers whose contexts "
                              "stay cached together: 3/4 of a 32k window, since agents at random points of episodes "
                              "growing from 4k to 32k seldom all hold long contexts at once (docs/performance.md).")


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
    overhead_gib: float = 0.0  # the overhead the plan used
    footprint_gib: float = 0.0  # what the serving process should hold: weights + overhead + KV cache
    max_num_batched_tokens: int = 0


def overhead_for(arch: Architecture, gpu: GpuConfig) -> float:
    """gpu.overhead_gib when set, else the preset's measured overhead, else the conservative fallback."""
    for value in (gpu.overhead_gib, arch.overhead_gib):
        if value is not None:
            return value
    return FALLBACK_OVERHEAD_GIB


def calibrate_overhead(process_gib: float, weights_gib: float, kv_gib: float) -> float:
    """Overhead from one vLLM start: what the process held (nvidia-smi) minus weights and KV cache (its log)."""
    if min(process_gib, weights_gib, kv_gib) < 0 or process_gib < weights_gib + kv_gib:
        raise ValueError(f"process {process_gib} GiB cannot hold weights {weights_gib} GiB and KV {kv_gib} GiB")
    return round(process_gib - weights_gib - kv_gib, 3)


def fit_overhead(starts: list[tuple[float, float, float]], margin_gib: float = 0.25) -> float:
    """A preset's overhead from measured starts, each (process GiB, weights GiB, KV GiB): the largest plus a margin.

    The margin covers start-to-start noise (profiling, allocator fragmentation while serving);
    rounded up to 0.05 GiB so the presets carry short numbers.
    """
    if not starts:
        raise ValueError("no measured starts to fit an overhead to")
    worst = max(calibrate_overhead(*start) for start in starts)
    return math.ceil((worst + margin_gib) * 20 - 1e-9) / 20


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
    overhead = overhead_for(arch, gpu)
    budget_gib = gpu.vram_gb * gpu.gpu_memory_utilization - weights_gib - overhead
    tokens = int(max(0.0, budget_gib) * GIB // per_token)
    context = min(tokens, arch.max_position) // ROUND_TO * ROUND_TO
    if budget_gib <= 0:
        reason = (f"the weights ({weights_gib:.2f} GiB) and overhead ({overhead} GiB) exceed "
                  f"{gpu.gpu_memory_utilization:.0%} of {gpu.vram_gb} GiB")
    elif context < gpu.min_context:
        reason = f"only {tokens} tokens of KV cache fit, below the {gpu.min_context}-token minimum for an agent"
    else:
        reason = "fits" if tokens >= arch.max_position else f"KV cache for {tokens} tokens fits"
    fits = context >= gpu.min_context
    return Plan(round(weights_gib, 3), per_token, round(budget_gib, 3), context, gpu.gpu_memory_utilization,
                fits, reason, kv_tokens=tokens, kv_cache_memory_bytes=int(max(0.0, budget_gib) * GIB),
                recommended_workers=recommended_workers(tokens, gpu.agent_tokens) if fits else 0,
                overhead_gib=overhead, footprint_gib=round(weights_gib + overhead + max(0.0, budget_gib), 3),
                max_num_batched_tokens=gpu.max_num_batched_tokens)
