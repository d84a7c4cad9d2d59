"""The GPU host's side of the bench: model presets, ATLAS's managed server sized for a card, nvidia-smi readings.

Shared by `bench.gpu_bench` (the command line and `traffic`) and `bench.gpu_table` (`table`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parent.parent / "conf"


def conf_dir() -> Path:
    """The model presets: this checkout's conf/, else the installed atlas.conf package."""
    if (CONF / "model").is_dir():
        return CONF
    import atlas.conf
    return Path(list(atlas.conf.__path__)[0])


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_preset(name: str) -> dict:
    """A model preset with its `defaults` chain applied (what Hydra composes for `model=<name>`)."""
    data = yaml.safe_load((conf_dir() / "model" / f"{name}.yaml").read_text())
    defaults = data.pop("defaults", [])
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]  # Hydra's default: the file's own keys come last
    composed: dict = {}
    for item in defaults:
        composed = merge(composed, load_preset(item) if item != "_self_" else data)
    return composed


def emulated_utilization(card_gib: float, utilization: float, total_gib: float) -> float:
    """--gpu-memory-utilization on this card that requests what `utilization` requests on a `card_gib` card."""
    return round(card_gib * utilization / total_gib, 4)


def card_gpu(card: float, overhead_gib: float | None = None, utilization: float | None = None,
             step_limit: int | None = 50):
    """The `gpu` section a run on a `card` GiB card plans with: the table's rows and the servers it starts share it."""
    from atlas.planner import GpuConfig

    return GpuConfig(vram_gb=card, overhead_gib=overhead_gib, step_limit=step_limit,
                     **({"gpu_memory_utilization": utilization} if utilization else {}))


def managed_model(launcher: str, model_dir: Path, preset_name: str, card: float, total_gib: float,
                  extra_body: dict | None = None, overhead_gib: float | None = None, max_tokens: int | None = None,
                  step_limit: int | None = 50, utilization: float | None = None):
    """ATLAS's VLLMModel for a preset, sized by the planner for a `card` GiB card, on this larger GPU.

    The plan's --kv-cache-memory-bytes, --max-model-len, --max-num-seqs and
    --max-num-batched-tokens are what a run on that card gets; --gpu-memory-utilization is scaled
    so vLLM's start-up check (free memory >= utilization x total) asks for the small card's share.
    A row the planner says does not fit, but whose weights do, is started with the KV cache the
    budget holds and the largest context in it, so its memory can still be measured. The plan
    counts each agent at the context `step_limit` steps of the bash scaffold reach (as `atlas run`
    does with agent=bash), with room for one answer of the default 4,096 tokens. `utilization` is
    gpu.gpu_memory_utilization on that card (the planner's 0.9 unless given).
    """
    from atlas.models import make_model
    from atlas.planner import Architecture, plan

    preset = load_preset(preset_name)
    gpu = card_gpu(card, overhead_gib, utilization, step_limit)
    server = dict(preset["server"])
    preset_args = server.get("extra_args") or []
    extra_args = ["--load-format", "dummy"]
    if "--limit-mm-per-prompt" in preset_args:  # a multimodal model served text only (no vision-encoder memory)
        at = preset_args.index("--limit-mm-per-prompt")
        extra_args += preset_args[at:at + 2]
    # Dummy weights pick whitespace tokens as readily as any: without this, a forced tool call's JSON
    # grammar lets them pad `{` with blanks until max_tokens, and the call is never valid. The `mistral`
    # parser too: its own Lark grammar needs a Mistral-format tokenizer, and the bench's folders carry a
    # Hugging Face one, so it takes the same JSON-schema path (Devstral Small 2 padded with blanks without
    # the flag, H100 2026-12-07).
    structured = {"backend": "xgrammar", "disable_any_whitespace": True}
    if server.get("reasoning_parser") == "openai_gptoss":
        # grammars bind from the first token, not only after harmony's analysis ends (which noise never
        # reaches): the bench's structural tag then writes the whole turn (gpu_table.harmony_call_tag)
        structured["enable_in_reasoning"] = True
    extra_args += ["--structured-outputs-config", json.dumps(structured)]
    # vLLM 0.26 forces tool calls through the parser's structural tag (strict tool calling), whose
    # JSON allows any whitespace whatever the flag above; off, a forced call is the schema alone.
    server.update(command=[launcher, "serve"], weights=str(model_dir), extra_args=extra_args,
                  gpu_memory_utilization=emulated_utilization(card, gpu.gpu_memory_utilization, total_gib),
                  # one compile cache per preset and card: servers started side by side never share a folder
                  env={"VLLM_USE_FLASHINFER_SAMPLER": "0", "VLLM_ENFORCE_STRICT_TOOL_CALLING": "0",
                       "VLLM_CACHE_ROOT": str(Path.home() / ".cache" / "vllm-bench" / f"{preset_name}-{card:g}")},
                  startup_timeout=420)
    planned = plan(Architecture.model_validate(preset["architecture"]), gpu, server.get("kv_cache_dtype", "auto"))
    if not planned.fits and planned.kv_tokens >= 1024:
        server.update(max_model_len=planned.kv_tokens // 1024 * 1024, kv_cache_memory_bytes=planned.kv_cache_memory_bytes,
                      max_num_seqs=1, max_num_batched_tokens=gpu.max_num_batched_tokens)
    config = {**preset, "server": server, "retry_initial_wait": 0.5, "timeout": 300}
    if extra_body:
        config["extra_body"] = extra_body
    if max_tokens:
        config["max_tokens"] = max_tokens
    return make_model(config, gpu=gpu)


def gpu_mib(field: str) -> int:
    """One figure of the GPU's memory from nvidia-smi, in MiB: "total" or "used"."""
    out = subprocess.run(["nvidia-smi", f"--query-gpu=memory.{field}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def gpu_total_gib() -> float:
    return gpu_mib("total") / 1024


def gpu_used_mib() -> int:
    return gpu_mib("used")


def process_mib(pgid: int) -> int | None:
    """GPU memory the processes of one process group hold (the API server and its engine core), from nvidia-smi."""
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True).stdout
    total, seen = 0, False
    for line in out.splitlines():
        try:
            pid, used = (int(x) for x in line.split(","))
            if os.getpgid(pid) == pgid:
                total, seen = total + used, True
        except (ValueError, ProcessLookupError, PermissionError):
            continue
    return total if seen else None


def settled_used_mib(previous: int | None = None, seconds: float = 8) -> int:
    """Used GPU memory once it stops changing (a stopped server's memory is freed within a second or two)."""
    last, ends = gpu_used_mib(), time.monotonic() + seconds
    while time.monotonic() < ends:
        time.sleep(0.5)
        now = gpu_used_mib()
        if now == last and (previous is None or now != previous):
            return now
        last = now
    return last
