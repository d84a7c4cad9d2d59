"""How much context a quantized model gets on one GPU: weights + KV cache + overhead against VRAM.

    usable      = vram_gib * gpu_memory_utilization        (what the serving process may hold)
    kv budget   = usable - weights_gib - overhead_gib
    kv / token  = 2 (K and V) * layers * kv_heads * head_dim * bytes per KV element
    max context = kv budget / kv per token, capped by the model's max position, rounded down to 1024
    agent needs = prompt + step limit x tokens per step + one answer (or the scaffold's context budget + one answer)
    agent context = what an agent needs, capped by the max position and the KV cache (rounded to 1024)
    workers     = KV tokens // agent context, so workers x agent context <= KV tokens

Every agent may grow to the whole agent context, so the plan counts each one at that size: the
workers' contexts all stay in the KV cache at once, and no agent's prefix is evicted by another's
(on an H100, a plan that counted 24,000 tokens per agent while letting each reach 124,928 ran 5
agents at a 56.6% prefix-cache hit rate and a KV cache 98.6% full: docs/performance.md). The
agent context is what the run enforces: a managed server's --max-model-len. The scaffold's
figures (agent.step_limit, agent.context_budget) reach the `gpu` section by interpolation in
conf/config.yaml, so the core never imports a scaffold; the tokens per step and the prompt come
from real trajectories (docs/performance.md).

Layers with a sliding window (gpt-oss alternates them with full attention) hold only the window
per sequence in vLLM's hybrid KV cache manager, so only full-attention layers count per token.
vLLM still admits a request only if its whole context fits the cache alone, counting each sliding
layer at the window plus the tokens two batches may have in flight (`request_bytes`): on a small
budget that, not the per-token rate, caps the context (gpt-oss on 16 GiB, docs/performance.md).

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
KV_BLOCK = 16  # tokens per KV cache block: vLLM's default block size
IN_FLIGHT_BATCHES = 2  # vLLM 0.26 schedules asynchronously: two batches of max_num_batched_tokens may be in flight


class Architecture(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters_b: float | None = Field(None, gt=0, description="Parameter count in billions (recorded, not used).")
    weights_gb: float = Field(gt=0, description="GB (1e9 bytes) of weights as vLLM loads them (its 'Model loading took' "
                                                "line), else as published.")
    layers: int = Field(gt=0)
    sliding_layers: int = Field(0, ge=0, description="Layers with sliding-window attention: they keep only the "
                                "window per sequence, so the KV cache per token counts the other layers.")
    sliding_layers_charged: int = Field(0, ge=0, description="Sliding-window layers charged per token as full ones "
                                        "anyway: vLLM's hybrid KV manager spends more than the full layers alone "
                                        "(measured per preset).")
    sliding_window: int | None = Field(None, gt=0, description="Tokens a sliding-window layer attends to "
                                       "(config.json's sliding_window): what vLLM holds of a request in those layers.")
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
    step_limit: int | None = Field(None, gt=0, description="The scaffold's step limit (conf/config.yaml takes "
                                   "agent.step_limit); null: none known, an agent may use the model's whole window.")
    context_budget: int | None = Field(None, gt=0, description="The scaffold's prompt budget (agent.context_budget); "
                                       "an agent's history never grows past it.")
    context_policy: str = Field("stop", description="The scaffold's agent.context_policy: with elide and no budget, "
                                "the plan says which budget makes the scaffold elide before the server's window.")
    tokens_per_step: int = Field(400, gt=0, description="Tokens a step adds to the history (answer + observation): "
                                 "the 90th percentile of real mini-swe-agent trajectories (docs/performance.md).")
    prompt_tokens: int = Field(4000, gt=0, description="Tokens of the first request: system prompt and task.")
    answer_tokens: int = Field(4096, gt=0, description="Room for one answer (the model's max_tokens): a request "
                               "needs prompt + max_tokens inside the window.")
    agent_context: int | None = Field(None, gt=0, description="Tokens each agent may reach, set by hand; null: "
                                      "from the step limit or context budget.")


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
    recommended_workers: int = 0  # agents whose contexts fit in the KV cache together (kv_tokens // agent_context)
    agent_context: int = 0  # tokens each agent may reach: the server's --max-model-len
    agent_needs: int = 0  # tokens an episode grows to (step limit or context budget), before the caps
    explanation: str = ""  # the choice in one line
    overhead_gib: float = 0.0  # the overhead the plan used
    footprint_gib: float = 0.0  # what the serving process should hold: weights + overhead + KV cache
    max_num_batched_tokens: int = 0

    @property
    def workers(self) -> int:
        return self.recommended_workers

    def summary(self) -> dict:
        """What `atlas plan --json` prints: the figures a script sizes a run with, and the plan's other figures."""
        return {"kv_tokens": self.kv_tokens, "workers": self.workers, "agent_context": self.agent_context,
                **{k: v for k, v in vars(self).items() if k not in ("kv_tokens", "recommended_workers", "agent_context")}}


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


def agent_needs(gpu: GpuConfig, max_position: int) -> tuple[int, str]:
    """Tokens one agent's requests may reach, rounded up to 1024, and where that figure comes from.

    A request holds the history plus room for one answer. The history grows by `tokens_per_step`
    each step up to the step limit, and never past the context budget (the scaffold stops or
    elides there); with neither known, the model's whole window.
    """
    if gpu.agent_context:
        return gpu.agent_context, f"gpu.agent_context={gpu.agent_context}"
    candidates = []
    if gpu.step_limit:
        history = gpu.prompt_tokens + gpu.step_limit * gpu.tokens_per_step
        candidates.append((history + gpu.answer_tokens, f"{gpu.step_limit} steps x {gpu.tokens_per_step} tokens + "
                                                       f"{gpu.prompt_tokens} prompt + {gpu.answer_tokens} answer"))
    if gpu.context_budget:
        candidates.append((gpu.context_budget + gpu.answer_tokens,
                           f"context budget {gpu.context_budget} + {gpu.answer_tokens} answer"))
    if not candidates:
        return max_position, "no step limit or context budget: the model's whole window"
    tokens, why = min(candidates)
    return -(-tokens // ROUND_TO) * ROUND_TO, why


def recommended_workers(kv_tokens: int, agent_context: int) -> int:
    """Agents whose contexts all stay in the KV cache at once (at least 1 when anything fits).

    More workers than this still run, but their prefixes evict each other and each returning
    agent pays its whole prompt again as prefill.
    """
    if agent_context <= 0:
        raise ValueError("agent_context must be positive")
    return max(1, kv_tokens // agent_context) if kv_tokens > 0 else 0


def kv_bytes_per_token(arch: Architecture, kv_cache_dtype: str) -> int:
    if kv_cache_dtype not in KV_BYTES:
        raise BadInput(f"unknown kv_cache_dtype {kv_cache_dtype!r}; known: {', '.join(KV_BYTES)}")
    if arch.sliding_layers >= arch.layers:
        raise BadInput(f"architecture.sliding_layers ({arch.sliding_layers}) must be fewer than its layers ({arch.layers})")
    charged = arch.layers - arch.sliding_layers + min(arch.sliding_layers_charged, arch.sliding_layers)
    return 2 * charged * arch.kv_heads * arch.head_dim * KV_BYTES[kv_cache_dtype]


def request_bytes(arch: Architecture, kv_cache_dtype: str, context: int, max_num_batched_tokens: int) -> int:
    """KV cache bytes vLLM 0.26 requires for one request of `context` tokens before it admits the request.

    Full-attention layers hold every token; a sliding-window layer holds the window plus what two
    batches may have in flight, plus a block (vLLM's SlidingWindowSpec.max_admission_blocks_per_request).
    """
    layer = 2 * arch.kv_heads * arch.head_dim * KV_BYTES[kv_cache_dtype]
    blocks = -(-context // KV_BLOCK)
    needed = (arch.layers - arch.sliding_layers) * layer * blocks * KV_BLOCK
    if arch.sliding_layers and arch.sliding_window:
        held = min(arch.sliding_window - 1 + IN_FLIGHT_BATCHES * max_num_batched_tokens, context)
        needed += arch.sliding_layers * layer * (-(-held // KV_BLOCK) + 1) * KV_BLOCK
    return needed


def admitted(arch: Architecture, kv_cache_dtype: str, context: int, budget_bytes: float, max_num_batched_tokens: int) -> int:
    """The largest context, at most `context` and a multiple of 1024, that vLLM admits alone into `budget_bytes`."""
    context = context // ROUND_TO * ROUND_TO
    while context > 0 and request_bytes(arch, kv_cache_dtype, context, max_num_batched_tokens) > budget_bytes:
        context -= ROUND_TO
    return max(0, context)


def plan(arch: Architecture, gpu: GpuConfig, kv_cache_dtype: str = "auto") -> Plan:
    """Weights, overhead and KV cache against the card; then the agent context and the workers that fit it."""
    weights_gib = arch.weights_gb * 1e9 / GIB
    per_token = kv_bytes_per_token(arch, kv_cache_dtype)
    overhead = overhead_for(arch, gpu)
    budget_gib = gpu.vram_gb * gpu.gpu_memory_utilization - weights_gib - overhead
    tokens = int(max(0.0, budget_gib) * GIB // per_token)
    budget_bytes = max(0.0, budget_gib) * GIB
    context = admitted(arch, kv_cache_dtype, min(tokens, arch.max_position), budget_bytes, gpu.max_num_batched_tokens)
    needs, why = agent_needs(gpu, arch.max_position)
    agent_context = admitted(arch, kv_cache_dtype, min(needs, arch.max_position, tokens), budget_bytes,
                             gpu.max_num_batched_tokens)
    if budget_gib <= 0:
        reason = (f"the weights ({weights_gib:.2f} GiB) and overhead ({overhead} GiB) exceed "
                  f"{gpu.gpu_memory_utilization:.0%} of {gpu.vram_gb} GiB")
    elif agent_context < min(gpu.min_context, needs):
        reason = f"only {tokens} tokens of KV cache fit, below the {gpu.min_context}-token minimum for an agent"
    else:
        reason = "fits" if tokens >= arch.max_position else f"KV cache for {tokens} tokens fits"
    fits = budget_gib > 0 and agent_context >= min(gpu.min_context, needs)
    workers = recommended_workers(tokens, agent_context) if fits else 0
    return Plan(round(weights_gib, 3), per_token, round(budget_gib, 3), context, gpu.gpu_memory_utilization,
                fits, reason, kv_tokens=tokens, kv_cache_memory_bytes=int(max(0.0, budget_gib) * GIB),
                recommended_workers=workers, agent_context=agent_context if fits else 0, agent_needs=needs,
                explanation=explain(fits, reason, workers, agent_context, needs, why, tokens, gpu),
                overhead_gib=overhead, footprint_gib=round(weights_gib + overhead + max(0.0, budget_gib), 3),
                max_num_batched_tokens=gpu.max_num_batched_tokens)


def explain(fits: bool, reason: str, workers: int, agent_context: int, needs: int, why: str, kv_tokens: int,
            gpu: GpuConfig) -> str:
    """The plan's choice in one line; when an agent gets less than it needs, what its context policy does about it."""
    if not fits:
        return f"does not fit: {reason}"
    head = (f"{workers} worker(s) x {agent_context:,}-token context = {workers * agent_context:,} <= "
            f"{kv_tokens:,} KV tokens")
    if agent_context >= needs:
        return f"{head}; each agent needs {needs:,} ({why})"
    budget = agent_context - gpu.answer_tokens
    if gpu.context_policy == "elide" and not gpu.context_budget:
        then = f"set agent.context_budget={budget} so the scaffold elides old output before the server refuses"
    elif gpu.context_policy == "elide":
        then = "the scaffold elides old output at its context budget"
    else:
        then = f"longer episodes end as context_limit (agent.context_policy=elide agent.context_budget={budget} elides instead)"
    return f"{head}; each agent needs {needs:,} ({why}) but gets {agent_context:,}: {then}"
