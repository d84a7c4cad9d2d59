"""Figures vLLM writes in its start-up log and its /metrics page, read back as numbers.

The memory lines are what the planner is checked against: how much the weights took, how
much memory was left for the KV cache, and how many tokens of KV cache that made.
"""

from __future__ import annotations

import re

PATTERNS = {
    "weights_gib": r"Model loading took ([\d.]+) GiB",
    "kv_available_gib": r"Available KV cache memory: ([\d.]+) GiB",
    "kv_reserved_gib": r"reserved ([\d.]+) GiB memory for KV Cache",  # with --kv-cache-memory-bytes
    "kv_tokens": r"GPU KV cache size: ([\d,]+) tokens",
    "max_concurrency": r"Maximum concurrency for [\d,]+ tokens per request: ([\d.]+)x",
    "max_model_len": r"Maximum concurrency for ([\d,]+) tokens per request",
    "estimated_max_model_len": r"estimated maximum model length is (\d+)",
    "compile_s": r"torch\.compile took ([\d.]+) s",
    "init_engine_s": r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s",
    "graph_capture_s": r"Graph capturing finished in ([\d.]+) sec",
    "graph_capture_gib": r"Graph capturing finished in [\d.]+ secs?, took ([-\d.]+) GiB",
    "graph_pool_gib": r"CUDA graph pool memory: ([\d.]+) GiB \(actual\)",
}


def parse_log(text: str) -> dict[str, float]:
    """The last value of each figure found in a `vllm serve` log (absent figures are left out)."""
    found: dict[str, float] = {}
    for key, pattern in PATTERNS.items():
        matches = re.findall(pattern, text)
        if matches:
            found[key] = float(matches[-1].replace(",", ""))
    return found


METRIC = re.compile(r"^(vllm:[a-z_]+)(\{[^}]*\})? ([-+\deE.na]+)$")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {metric name: value summed over its label sets} for vLLM's own metrics."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = METRIC.match(line.strip())
        if match:
            values[match.group(1)] = values.get(match.group(1), 0.0) + float(match.group(3))
    return values


def prefix_hit_rate(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Share of prompt tokens served from the prefix cache between two /metrics readings."""
    queries = after.get("vllm:prefix_cache_queries_total", 0.0) - before.get("vllm:prefix_cache_queries_total", 0.0)
    hits = after.get("vllm:prefix_cache_hits_total", 0.0) - before.get("vllm:prefix_cache_hits_total", 0.0)
    return hits / queries if queries > 0 else None
