"""ATLAS-managed `vllm serve`, with a stand-in executable that serves the same endpoints."""

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from atlas.models import ModelError, make_model
from atlas.models.vllm_server import ServerConfig, root_cause, serve_arguments
from tests.fake_openai import QWEN_GENERATION_CONFIG, FakeOpenAIServer

STAND_IN = [sys.executable, str(Path(__file__).with_name("fake_openai.py")), "serve"]


def vllm_model(tmp_path, model_settings=None, **server):
    config = {"name": "qwen-test", "backend": "vllm", "model": "qwen-test", "retry_initial_wait": 0.01,
              "context_window": 32768, "tokenize_endpoint": True, **(model_settings or {}),
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
    assert "--gpu-memory-utilization" not in joined and "--max-cudagraph-capture-size" not in joined  # left to vLLM
    capped = serve_arguments(ServerConfig(weights="w", max_cudagraph_capture_size=64), "served", 8001)
    assert capped[capped.index("--max-cudagraph-capture-size") + 1] == "64"
    # vLLM's defaults that would skew a run are overridden by default
    assert "--enable-prompt-tokens-details" in argv and argv[argv.index("--generation-config") + 1] == "vllm"


def test_server_flags_say_what_vllm_v1_needs():
    off = serve_arguments(ServerConfig(weights="w", enable_prefix_caching=False, enable_prompt_tokens_details=False,
                                       generation_config=None), "served", 8001)
    assert "--no-enable-prefix-caching" in off and "--enable-prefix-caching" not in off  # V1 caches by default
    assert "--enable-prompt-tokens-details" not in off and "--generation-config" not in off
    auto = serve_arguments(ServerConfig(weights="w", generation_config="auto"), "served", 8001)
    assert auto[auto.index("--generation-config") + 1] == "auto"


def debug_requests(model) -> list[dict]:
    root = model.server.base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/debug/requests") as reply:
        return [r for r in json.loads(reply.read())["requests"] if r["path"].endswith("/chat/completions")]


HISTORY = [{"role": "system", "content": "s" * 800}, {"role": "user", "content": "u" * 800}]


@pytest.mark.parametrize("generation_config", ["vllm", "auto"])
def test_managed_server_window_sampling_and_cached_tokens(tmp_path, generation_config):
    """The window is the server's --max-model-len, not the preset's; the manifest's sampling is what vLLM applied."""
    model = vllm_model(tmp_path, max_model_len=8192, generation_config=generation_config)
    model.open(tmp_path)
    try:
        described = model.describe()
        assert (described["context_window"], described["context_window_configured"]) == (8192, 32768)
        first = model.query(HISTORY)
        second = model.query([*HISTORY, {"role": "assistant", "content": "a" * 400}, {"role": "user", "content": "x"}])
        assert first.usage.cached_prompt_tokens == 0 and second.usage.cached_prompt_tokens == 400  # append-only
        applied = debug_requests(model)[-1]["applied_sampling"]
        recorded = model.describe()
        assert {k: recorded["sampling"][k] for k in applied} == applied  # every knob vLLM applied, as recorded
        assert applied["top_k"] == 0 and applied["repetition_penalty"] == 1.0 and applied["temperature"] == 0.0
        defaults = recorded["managed_server"]["generation_config_defaults"]
        assert defaults == (QWEN_GENERATION_CONFIG if generation_config == "auto" else None)
    finally:
        model.close()


def test_without_prefix_caching_no_tokens_are_cached(tmp_path):
    model = vllm_model(tmp_path, enable_prefix_caching=False)
    model.open(tmp_path)
    try:
        model.query(HISTORY)
        assert model.query([*HISTORY, {"role": "user", "content": "more"}]).usage.cached_prompt_tokens == 0
        assert "--no-enable-prefix-caching" in model.describe()["managed_server"]["argv"]
    finally:
        model.close()


def test_over_long_prompt_is_caught_against_the_servers_window(tmp_path):
    from atlas.models import ContextLimitError

    model = vllm_model(tmp_path, {"max_tokens": 512}, max_model_len=1024)
    model.open(tmp_path)
    try:
        with pytest.raises(ContextLimitError, match="context window of 1024 \\(server /v1/models max_model_len\\)"):
            model.query([{"role": "user", "content": "x" * 4000}])  # 1000 tokens + 512 > 1024, < the preset's 32768
        assert debug_requests(model) == []
    finally:
        model.close()


@pytest.fixture
def other_server():
    fake = FakeOpenAIServer(model="someone-elses-model").start()
    yield fake
    fake.stop()


def test_a_taken_port_is_refused_before_starting(tmp_path, other_server):
    port = other_server.httpd.server_address[1]
    model = vllm_model(tmp_path, port=port)
    with pytest.raises(ModelError, match=f"port {port} on 127.0.0.1 is already in use.*model.server.port=0"):
        model.open(tmp_path)
    assert model.server is None  # nothing was started
    assert other_server.requests == []


def test_readiness_from_another_server_is_not_accepted(tmp_path, other_server, monkeypatch):
    """Should the port be taken after the check: the answer names another model, so it is not ours."""
    monkeypatch.setattr("atlas.models.managed_model.port_in_use", lambda host, port: False)
    model = vllm_model(tmp_path, port=other_server.httpd.server_address[1], extra_args=["--startup-delay", "30"])
    with pytest.raises(ModelError, match="answered by another server \\(serving someone-elses-model\\).*port is taken"):
        model.open(tmp_path)
    assert not alive(model.server.process.pid)


def test_a_child_that_cannot_bind_shows_address_in_use(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("atlas.models.managed_model.port_in_use", lambda host, port: False)
    holder = socket.socket()  # holds the port without answering, so only the child's own failure can tell
    holder.bind(("127.0.0.1", 0))
    model = vllm_model(tmp_path, port=holder.getsockname()[1])
    with holder, pytest.raises(ModelError, match="(?s)exited with code 1.*root cause: OSError: \\[Errno 98\\] Address already "
                                         "in use.*model.server.port=0"):
        model.open(tmp_path)


def test_failed_start_shows_vllms_root_cause_and_the_log(tmp_path):
    model = vllm_model(tmp_path, extra_args=["--fail-kv-cache"])
    with pytest.raises(ModelError) as failure:
        model.open(tmp_path)
    message = str(failure.value)
    assert message.startswith("vllm serve exited with code 1 before it was ready; root cause: ValueError: To serve at "
                              "least one request with the model's max seq len (16384), 3.00 GiB KV cache is needed")
    assert f"Full log: {tmp_path / 'vllm.log'}" in message
    assert "Engine core initialization failed" not in message and "File \"" not in message


def test_root_cause_skips_wrappers_and_log_prefixes():
    log = ("(APIServer pid=1) INFO 11-25 10:00:00 [api_server.py:1] vLLM API server version 0.26.0\n"
           "/venv/torch/cuda.py:61: UserWarning: something minor\n"
           "(EngineCore_DP0 pid=2) ERROR 11-25 10:00:01 [core.py:708] EngineCore failed to start.\n"
           "(EngineCore_DP0 pid=2) ERROR 11-25 10:00:01 [core.py:708]     raise ValueError(\n"
           "\x1b[1;36m(EngineCore_DP0 pid=2)\x1b[0;0m ERROR 11-25 10:00:01 [core.py:708] torch.OutOfMemoryError: CUDA "
           "out of memory.\n"
           "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n")
    assert root_cause(log) == "torch.OutOfMemoryError: CUDA out of memory."
    assert root_cause("RuntimeError: Engine core initialization failed. See root cause above.\n") is None


def test_a_silent_start_fails_as_hung_and_progress_is_shown(tmp_path, capsys):
    model = vllm_model(tmp_path, extra_args=["--startup-delay", "60"], stall_timeout=2, progress_interval=0.5)
    with pytest.raises(ModelError, match="(?s)looks hung: its log has not grown for 2s.*Full log: "):
        model.open(tmp_path)
    assert not alive(model.server.process.pid)
    assert "vllm serve: starting for" in capsys.readouterr().err


def test_a_slow_start_that_logs_is_not_hung(tmp_path, capsys):
    model = vllm_model(tmp_path, extra_args=["--startup-delay", "3", "--startup-log-every", "0.3"], stall_timeout=1,
                       progress_interval=1)
    model.open(tmp_path)
    model.close()
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vllm serve: starting")]
    assert len(progress) >= 2 and "Loading safetensors checkpoint shards" in progress[-1]


def test_secrets_stay_out_of_the_manifest_and_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_TEST_VLLM_KEY", "sk-very-secret")  # a server started with --api-key wants it
    model = vllm_model(tmp_path, {"api_key_env": "ATLAS_TEST_VLLM_KEY"}, extra_args=["--api-key", "sk-very-secret"],
                       env={"HF_TOKEN": "hf_very_secret"})
    model.open(tmp_path)
    try:
        described = json.dumps(model.describe())
        assert "sk-very-secret" not in described and "hf_very_secret" not in described
        assert "$ " in (log := (tmp_path / "vllm.log").read_text()) and "--api-key ***" in log.splitlines()[0]
        assert "sk-very-secret" not in log.splitlines()[0]
    finally:
        model.close()


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
    if sig == "SIGINT":  # a SIGKILLed ATLAS no longer copies the server's (redacted) output to the log
        assert "SIGTERM" in log.read_text()
    # a SIGKILLed run leaves its container for the next session to sweep; there is none here
    remove_labeled(docker_client, **{"atlas.run_dir": str(log.parent.resolve())})
