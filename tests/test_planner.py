"""The VRAM planner against figures computed by hand, and its calibration against what vLLM 0.26 measured."""

import json
from pathlib import Path

import pytest

from atlas.config import ConfigError
from atlas.models import make_model
from atlas.planner import Architecture, GpuConfig, calibrate_overhead, plan, recommended_workers
from tests.conftest import atlas
from tests.test_vllm_server import STAND_IN

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "2026-11-25-h100"
# Qwen2.5-Coder-14B-Instruct-AWQ (config.json: 48 layers, 8 KV heads, head_dim 128); vLLM loads 10.23 GB
QWEN_14B = Architecture(weights_gb=10.23, layers=48, kv_heads=8, head_dim=128, max_position=32768)
# Qwen2.5-Coder-32B-Instruct-AWQ (64 layers, 8 KV heads, head_dim 128); vLLM loads 19.85 GB
QWEN_32B = Architecture(weights_gb=19.85, layers=64, kv_heads=8, head_dim=128, max_position=32768)


def test_qwen_14b_awq_on_24_gib():
    result = plan(QWEN_14B, GpuConfig(vram_gb=24))
    # weights 10.23e9 / 2**30 = 9.5274 GiB; KV per token 2*48*8*128*2 bytes = 196,608
    assert result.weights_gib == pytest.approx(9.5274, abs=1e-3)
    assert result.kv_bytes_per_token == 196_608
    # budget 24*0.90 - 9.5274 - 4.0 = 8.0726 GiB -> 8.0726 * 2**30 / 196,608 = 44,087 tokens, capped at 32,768
    assert result.kv_budget_gib == pytest.approx(8.0726, abs=1e-3)
    assert result.kv_tokens == pytest.approx(44_087, abs=2) and result.max_context == 32_768 and result.fits
    assert result.kv_cache_memory_bytes == pytest.approx(8.0726 * 2**30, rel=1e-4)
    assert result.recommended_workers == 3  # 44,087 // 12,000


def test_fp8_kv_doubles_the_tokens_and_makes_16_gib_fit():
    sixteen = plan(QWEN_14B, GpuConfig(vram_gb=16))
    # budget 14.4 - 9.5274 - 4.0 = 0.8726 GiB -> 4,765 tokens: below the 8,192 an agent needs
    assert not sixteen.fits and sixteen.max_context == 4_096 and sixteen.recommended_workers == 0
    assert "below the 8192-token minimum" in sixteen.reason
    fp8 = plan(QWEN_14B, GpuConfig(vram_gb=16), kv_cache_dtype="fp8")
    assert fp8.kv_bytes_per_token == 98_304 and fp8.kv_tokens == pytest.approx(2 * sixteen.kv_tokens, abs=2)
    assert fp8.max_context == 9_216 and fp8.fits and fp8.recommended_workers == 1


def test_does_not_fit_says_why():
    no_room = plan(QWEN_32B, GpuConfig(vram_gb=24))
    assert not no_room.fits and "exceed 90% of 24.0 GiB" in no_room.reason and no_room.max_context == 0
    assert no_room.kv_cache_memory_bytes == 0
    assert plan(QWEN_32B, GpuConfig(vram_gb=32)).max_context == 25_600


def test_overhead_calibration_from_the_h100_run():
    """The default overhead is what the managed 14B start on the H100 held besides weights and KV cache."""
    opened = json.loads((RESULTS / "managed-results.jsonl").read_text().splitlines()[0])
    log = opened["vllm_log"]
    overhead = calibrate_overhead(opened["gpu_serving_mib"] / 1024, log["weights_gib"], log["kv_available_gib"])
    # 16,911 MiB = 16.515 GiB - 9.53 weights - 2.95 KV = 4.035 GiB
    assert overhead == pytest.approx(4.035, abs=1e-3)
    assert GpuConfig().overhead_gib == pytest.approx(overhead, abs=0.05)
    with pytest.raises(ValueError, match="cannot hold"):
        calibrate_overhead(10.0, 9.5, 2.95)


def test_planner_is_never_above_what_vllm_made():
    """Each measured start: the planner's KV tokens at the vLLM-reported weights stay at or under vLLM's own."""
    rows = [json.loads(line) for line in (RESULTS / "kv-results.jsonl").read_text().splitlines()]
    measured = [r for r in rows if "kv_available_gib" in r["vllm"]]
    assert len(measured) >= 3
    for row in measured:
        per_token = row["planner"]["kv_bytes_per_token"]
        arch = {"qwen2.5-coder-14b-awq": QWEN_14B, "qwen2.5-coder-32b-awq": QWEN_32B}[row["preset"]]
        ours = plan(arch, GpuConfig(vram_gb=row["card_gib"]))
        vllm_tokens = row["vllm"]["kv_available_gib"] * 2**30 / per_token
        assert ours.kv_tokens <= vllm_tokens, row["preset"]


def test_recommended_workers():
    assert recommended_workers(44_087, 12_000) == 3
    assert recommended_workers(5_000, 12_000) == 1  # one agent still runs, with a shorter context
    assert recommended_workers(0, 12_000) == 0
    with pytest.raises(ValueError):
        recommended_workers(10, 0)


def test_context_is_capped_by_the_model():
    assert plan(QWEN_14B, GpuConfig(vram_gb=24), "fp8").max_context == 32_768


def test_plan_command(tmp_path):
    done = atlas("plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=24")
    assert done.returncode == 0, done.stderr
    assert "32,768 tokens" in done.stdout and "--max-model-len 32768 --gpu-memory-utilization 0.9" in done.stdout
    assert "workers that fit" in done.stdout and "--kv-cache-memory-bytes 866" in done.stdout
    assert "--max-num-seqs 3" in done.stdout and "run.workers=3" in done.stdout
    refused = atlas("plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=16")
    assert refused.returncode == 2 and "does not fit" in refused.stdout
    fp8 = atlas("plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=16", "model.server.kv_cache_dtype=fp8")
    assert fp8.returncode == 0 and "9,216 tokens" in fp8.stdout


def managed(tmp_path, vram):
    return make_model({"name": "q", "backend": "vllm", "model": "q", "retry_initial_wait": 0.01,
                       "architecture": QWEN_14B.model_dump(),
                       "server": {"command": STAND_IN, "weights": "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ",
                                  "startup_timeout": 30}}, gpu=GpuConfig(vram_gb=vram))


def test_managed_server_takes_its_context_from_the_plan(tmp_path):
    model = managed(tmp_path, 24)
    model.open(tmp_path)
    try:
        argv = model.describe()["managed_server"]["argv"]
        assert argv[argv.index("--max-model-len") + 1] == "32768"
        assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.9"
        sized = plan(QWEN_14B, GpuConfig(vram_gb=24))
        # the KV cache is pinned to the plan and the batch to the agents that fit without preemption
        assert argv[argv.index("--kv-cache-memory-bytes") + 1] == str(sized.kv_cache_memory_bytes) != "0"
        assert argv[argv.index("--max-num-seqs") + 1] == str(sized.recommended_workers) != "0"
    finally:
        model.close()
    with pytest.raises(ConfigError, match="does not fit gpu.vram_gb=16"):
        managed(tmp_path, 16).open(tmp_path)
