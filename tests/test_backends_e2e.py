"""`atlas run` with served models: a local OpenAI-wire server standing in for vLLM, end to end in Docker."""

import json
import os

import pytest

from atlas.models.deterministic import SUBMIT, turn
from tests.conftest import atlas, read_jsonl


def run_vllm(server, tmp_path, ids, *extra):
    return atlas("run", "model=vllm", f"model.base_url={server.base_url}", "model.model=fake-coder",
                 "model.retry_initial_wait=0.01", "model.retries=2", f"run.instance_ids=[{','.join(ids)}]",
                 "run.workers=1", f"run.root={tmp_path}", *extra)


def test_vllm_attached_run_accounts_tokens_and_cost(server, sample_images, tmp_path):
    ids = [i.instance_id for i in sample_images[:2]]
    for _ in ids:
        server.answer(turn("look around", "ls"), completion_tokens=20)
        server.answer(turn("done", SUBMIT), completion_tokens=10)
    server.cached_tokens = 100
    server.max_model_len = 24576  # what the server enforces; the vllm preset says nothing, a model preset 32768
    server.fail_next(429)  # rate limited once: retried, not an error
    done = run_vllm(server, tmp_path, ids, "run.evaluate=false")
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "sample.vllm.bash"
    statuses = [json.loads((run_dir / "instances" / i / "status.json").read_text()) for i in ids]
    assert [s["status"] for s in statuses] == ["submitted", "submitted"]
    assert [s["usage"]["completion_tokens"] for s in statuses] == [30, 30]
    served = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len(served) == 5  # 4 answers + 1 rate-limited try
    manifest = json.loads((run_dir / "manifest.json").read_text())
    totals = manifest["totals"]
    assert totals["usage"]["completion_tokens"] == 60
    assert totals["usage"]["prompt_tokens"] == sum(s["usage"]["prompt_tokens"] for s in statuses) > 0
    assert totals["usage"]["cached_prompt_tokens"] == 4 * 100 and totals["usage"]["estimated"] is False
    assert totals["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in statuses)) and totals["cost_usd"] > 0
    assert manifest["model"]["server_models"][0]["id"] == "fake-coder"
    assert manifest["model"]["context_window"] == 24576
    sampling = manifest["model"]["sampling"]  # every knob, sent with each request, so what vLLM applied
    assert all(served[-1]["body"][knob] == value for knob, value in sampling.items())
    assert {"temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_tokens", "seed"} <= set(sampling)
    entries = read_jsonl(run_dir / "instances" / ids[0] / "trajectory.jsonl")
    assistant = [e for e in entries if e.get("role") == "assistant"]
    assert assistant[0]["usage"]["completion_tokens"] == 20 and assistant[0]["latency_s"] > 0


def test_server_dying_mid_run_is_a_model_error_apart_from_agent_failures(server, sample_images, tmp_path):
    ids = [i.instance_id for i in sample_images[:2]]
    server.answer(turn("done", SUBMIT))
    server.die_after = 1
    done = run_vllm(server, tmp_path, ids, "run.retries=1")
    assert done.returncode == 3, done.stderr[-3000:]  # an infrastructure failure: exit 3
    run_dir = tmp_path / "sample.vllm.bash"
    first, second = (json.loads((run_dir / "instances" / i / "status.json").read_text()) for i in ids)
    assert first["status"] == "submitted"
    assert second["status"] == "model_error" and second["attempts"] == 2
    assert "failed after 2 attempts" in second["error"]
    assert "status: model_error" in done.stdout


def test_unreachable_server_stops_before_any_instance(sample_images, tmp_path):
    done = atlas("run", "model=openai-compatible", "model.model=m", "model.base_url=http://127.0.0.1:9/v1",
                 "model.retry_initial_wait=0.01", f"run.root={tmp_path}")
    assert done.returncode == 3  # a model server that does not answer is the machinery's failure (README)
    assert "GET http://127.0.0.1:9/v1/models failed after 3 attempts" in done.stderr
    assert not list(tmp_path.rglob("status.json"))


def test_missing_api_key_is_refused_before_the_run_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = atlas("run", "model=claude-sonnet", f"run.root={tmp_path}", env=env)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY" in done.stderr
    assert not list(tmp_path.rglob("manifest.json")) and not list(tmp_path.rglob("instances"))


def test_claude_run_against_the_messages_api_wire_format(sample_images, tmp_path):
    from tests.fake_anthropic import FakeAnthropic

    instance = sample_images[0].instance_id
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key-0123"}
    with FakeAnthropic() as server:
        server.reply(turn("look", "ls"), input_tokens=50, output_tokens=20, cache_read_input_tokens=1000,
                     cache_creation_input_tokens=200)
        server.reply(turn("done", SUBMIT), input_tokens=60, output_tokens=10, cache_read_input_tokens=1200)
        done = atlas("run", "model=claude-sonnet", f"model.base_url={server.url}", f"run.instance_ids=[{instance}]",
                     f"run.root={tmp_path}", "run.evaluate=false", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "sample.claude-sonnet-4.5.bash"
    status = json.loads((run_dir / "instances" / instance / "status.json").read_text())
    assert status["status"] == "submitted" and status["steps"] == 2
    usage = status["usage"]
    assert (usage["prompt_tokens"], usage["cached_prompt_tokens"], usage["cache_write_tokens"],
            usage["completion_tokens"]) == (2510, 2200, 200, 30)
    # fresh input 110 * $3 + cache reads 2200 * $0.30 + cache writes 200 * $3.75 + output 30 * $15, per million
    assert status["cost_usd"] == pytest.approx((110 * 3 + 2200 * 0.3 + 200 * 3.75 + 30 * 15) / 1e6)
    manifest_text = (run_dir / "manifest.json").read_text()
    assert json.loads(manifest_text)["totals"]["cost_usd"] == pytest.approx(status["cost_usd"])
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert "sk-ant-test-not-a-real-key" not in path.read_text(errors="replace"), path
