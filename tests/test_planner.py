"""The VRAM planner against figures computed by hand for real architectures."""

import pytest

from atlas.config import ConfigError
from atlas.models import make_model
from atlas.planner import Architecture, GpuConfig, plan
from tests.conftest import atlas
from tests.test_vllm_server import STAND_IN

# Qwen2.5-Coder-14B-Instruct (config.json: 48 layers, 8 KV heads, head_dim 128), AWQ weights 9.98 GB
QWEN_14B = Architecture(weights_gb=9.98, layers=48, kv_heads=8, head_dim=128, max_position=32768)
# Qwen2.5-Coder-32B-Instruct (64 layers, 8 KV heads, head_dim 128), AWQ weights 19.3 GB
QWEN_32B = Architecture(weights_gb=19.3, layers=64, kv_heads=8, head_dim=128, max_position=32768)


def test_qwen_14b_awq_on_16_gib():
    result = plan(QWEN_14B, GpuConfig(vram_gb=16))
    # weights 9.98e9 / 2**30 = 9.2946 GiB; KV per token 2*48*8*128*2 bytes = 196,608
    assert result.weights_gib == pytest.approx(9.2946, abs=1e-3)
    assert result.kv_bytes_per_token == 196_608
    # budget 16*0.90 - 9.2946 - 1.5 = 3.6054 GiB -> 3.6054 * 2**30 / 196,608 = 19,690 tokens -> 19,456
    assert result.kv_budget_gib == pytest.approx(3.6054, abs=1e-3)
    assert result.max_context == 19_456 and result.fits


def test_qwen_32b_awq_on_24_gib_with_fp8_kv():
    result = plan(QWEN_32B, GpuConfig(vram_gb=24), kv_cache_dtype="fp8")
    # weights 17.9745 GiB; KV per token 2*64*8*128*1 = 131,072; budget 21.6 - 17.9745 - 1.5 = 2.1255 GiB
    # -> 2.1255 * 2**30 / 131,072 = 17,411 tokens -> 17,408
    assert result.kv_bytes_per_token == 131_072
    assert result.max_context == 17_408 and result.fits
    # with a 16-bit KV cache the same card holds half as many tokens
    assert plan(QWEN_32B, GpuConfig(vram_gb=24)).max_context == 8_192


def test_context_is_capped_by_the_model():
    assert plan(QWEN_14B, GpuConfig(vram_gb=24), "fp8").max_context == 32_768


def test_does_not_fit_says_why():
    too_small = plan(QWEN_14B, GpuConfig(vram_gb=12))
    assert not too_small.fits and "below the 8192-token minimum" in too_small.reason
    no_room = plan(QWEN_32B, GpuConfig(vram_gb=16))
    assert not no_room.fits and "exceed 90% of 16.0 GiB" in no_room.reason and no_room.max_context == 0


def test_plan_command(tmp_path):
    done = atlas("plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=16")
    assert done.returncode == 0, done.stderr
    assert "19,456 tokens" in done.stdout and "--max-model-len 19456 --gpu-memory-utilization 0.9" in done.stdout
    refused = atlas("plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=12")
    assert refused.returncode == 1 and "does not fit" in refused.stdout


def managed(tmp_path, vram):
    return make_model({"name": "q", "backend": "vllm", "model": "q", "retry_initial_wait": 0.01,
                       "architecture": QWEN_14B.model_dump(),
                       "server": {"command": STAND_IN, "weights": "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ",
                                  "startup_timeout": 30}}, gpu=GpuConfig(vram_gb=vram))


def test_managed_server_takes_its_context_from_the_plan(tmp_path):
    model = managed(tmp_path, 16)
    model.open(tmp_path)
    try:
        argv = model.describe()["managed_server"]["argv"]
        assert argv[argv.index("--max-model-len") + 1] == "19456"
        assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.9"
    finally:
        model.close()
    with pytest.raises(ConfigError, match="does not fit gpu.vram_gb=12"):
        managed(tmp_path, 12).open(tmp_path)
