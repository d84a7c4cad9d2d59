"""ATLAS-managed `vllm serve`, with a stand-in executable that serves the same endpoints."""

import os
import sys
from pathlib import Path

import pytest

from atlas.models import ModelError, make_model
from atlas.models.vllm_backend import ServerConfig, serve_arguments

STAND_IN = [sys.executable, str(Path(__file__).with_name("fake_openai.py")), "serve"]


def vllm_model(tmp_path, **server):
    config = {"name": "qwen-test", "backend": "vllm", "model": "qwen-test", "retry_initial_wait": 0.01,
              "server": {"command": STAND_IN, "weights": "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ",
                         "quantization": "awq_marlin", "max_model_len": 16384, "gpu_memory_utilization": 0.92,
                         "kv_cache_dtype": "fp8", "tool_call_parser": "hermes", "startup_timeout": 30, **server}}
    return make_model(config)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_serve_arguments_follow_the_preset():
    server = ServerConfig(weights="w", quantization="awq", max_model_len=8192, speculative_config={"method": "ngram"},
                          extra_args=["--max-num-batched-tokens", "4096"])
    argv = serve_arguments(server, "served", 8001)
    assert argv[:3] == ["vllm", "serve", "w"]
    joined = " ".join(argv)
    for part in ("--port 8001", "--served-model-name served", "--quantization awq", "--max-model-len 8192",
                 "--enable-prefix-caching", '--speculative-config {"method": "ngram"}', "--max-num-batched-tokens 4096"):
        assert part in joined
    assert "--gpu-memory-utilization" not in joined  # unset values are left to vLLM


def test_managed_server_starts_answers_and_stops(tmp_path):
    model = vllm_model(tmp_path, extra_args=["--startup-delay", "1"])
    model.open(tmp_path)
    try:
        pid = model.server.process.pid
        assert alive(pid)
        described = model.describe()
        argv = described["managed_server"]["argv"]
        assert "--max-model-len" in argv and "16384" in argv and "--kv-cache-dtype" in argv
        assert described["server_models"][0]["id"] == "qwen-test"
        reply = model.query([{"role": "user", "content": "hello"}])
        assert reply.finish_reason == "stop"
        assert model.accounting()["server_wall_seconds"] > 0
    finally:
        model.close()
    assert not alive(pid)
    log = (tmp_path / "vllm.log").read_text()
    assert "stand-in vllm: args serve Qwen/Qwen2.5-Coder-14B-Instruct-AWQ" in log
    assert "serving on" in log and "SIGTERM" in log


def test_server_that_exits_early_is_a_model_error(tmp_path):
    model = vllm_model(tmp_path, command=[sys.executable, "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"])
    with pytest.raises(ModelError, match="(?s)exited with code 3.*CUDA out of memory"):
        model.open(tmp_path)


def test_server_that_never_gets_ready_is_stopped(tmp_path):
    model = vllm_model(tmp_path, extra_args=["--startup-delay", "60"], startup_timeout=2)
    with pytest.raises(ModelError, match="did not answer .* within 2s"):
        model.open(tmp_path)
    assert not alive(model.server.process.pid)


def test_missing_vllm_executable_says_how_to_get_it(tmp_path):
    model = vllm_model(tmp_path, command=["atlas-no-such-vllm", "serve"])
    with pytest.raises(ModelError, match="pip install 'atlas-swe\\[vllm\\]'"):
        model.open(tmp_path)


def stand_in_pids(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (the stand-in server of one test)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace") and alive(int(proc.name)):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_stopping_a_run_leaves_no_server_behind(sample_images, docker_client, tmp_path, sig):
    """Ctrl-C stops the server; even a SIGKILL of ATLAS reaches it, through the parent-death signal."""
    import json
    import signal
    import subprocess
    import time

    from atlas.environments.docker import remove_labeled
    from atlas.models.deterministic import turn
    from tests.conftest import REPO_ROOT

    answers = tmp_path / "answers.json"  # also the marker that finds the stand-in's process
    answers.write_text(json.dumps([turn("wait", "sleep 60")] * 20))
    command = json.dumps([*STAND_IN, "--answers", str(answers)]).replace('"', "'")
    process = subprocess.Popen(
        [sys.executable, "-m", "atlas.cli", "run", "model=qwen2.5-coder-14b-awq", f"model.server.command={command}",
         "model.server.max_model_len=16384", "model.retry_initial_wait=0.01", f"run.root={tmp_path / 'runs'}",
         f"run.instance_ids=[{sample_images[0].instance_id}]", "run.evaluate=false"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "runs" / "sample.qwen2.5-coder-14b-awq.bash" / "vllm.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and "serving on" in log.read_text()
                                               and list(log.parent.glob("instances/*/trajectory.jsonl"))):
        time.sleep(0.2)
    assert stand_in_pids(str(answers)), "the managed server did not start"
    time.sleep(1)  # let the agent's first command start
    process.send_signal(getattr(signal, sig))
    _, err = process.communicate(timeout=120)
    assert process.returncode == (130 if sig == "SIGINT" else -9), err[-2000:]
    deadline = time.monotonic() + 30
    while stand_in_pids(str(answers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stand_in_pids(str(answers)) == []
    assert "SIGTERM" in log.read_text()
    # a SIGKILLed run leaves its container for the next session to sweep; there is none here
    remove_labeled(docker_client, **{"atlas.run_dir": str(log.parent.resolve())})
