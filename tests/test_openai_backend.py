"""The OpenAI-compatible backend against a local server speaking the chat-completions wire format."""

import json

import pytest

from atlas.config import ConfigError
from atlas.costs import LocalPricing
from atlas.models import ContextLimitError, ModelError, make_model
from atlas.models.tokens import estimate_text
MESSAGES = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "u" * 400}]


def model_for(server, **settings):
    """The openai backend opened on `server` (conftest's stand-in), quick to retry."""
    config = {"name": "local", "backend": "openai", "model": "fake-coder", "base_url": server.base_url,
              "retry_initial_wait": 0.01, **settings}
    model = make_model(config)
    model.open(None)
    return model


@pytest.mark.parametrize("stream", [True, False])
def test_text_answer_with_usage_and_latency(server, stream):
    server.cached_tokens = 150
    server.answer("THOUGHT: look\n\n```bash\nls\n```", completion_tokens=12)
    reply = model_for(server, stream=stream, temperature=0.2, seed=7).query(MESSAGES)
    assert reply.content == "THOUGHT: look\n\n```bash\nls\n```"
    assert (reply.usage.prompt_tokens, reply.usage.cached_prompt_tokens, reply.usage.completion_tokens) == (200, 150, 12)
    assert not reply.usage.estimated and reply.finish_reason == "stop" and reply.latency_s > 0
    assert (reply.ttft_s is not None) == stream
    body = server.requests[-1]["body"]
    assert body["temperature"] == 0.2 and body["seed"] == 7 and body["max_tokens"] == 4096
    assert body.get("stream", False) == stream


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_are_normalized(server, stream):
    server.answer("", tool_calls=[{"name": "bash", "arguments": json.dumps({"command": "ls -la"})}])
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    reply = model_for(server, stream=stream).query(MESSAGES, tools=tools)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("bash", {"command": "ls -la"})]
    assert reply.finish_reason == "tool_calls"
    assert server.requests[-1]["body"]["tools"] == tools


def test_local_pricing_charges_gpu_seconds(server):
    server.delay_s = 0.3
    server.answer("x")
    pricing = {"kind": "local", "gpu_price_usd": 1600, "amortization_years": 3, "power_watts": 350,
               "electricity_usd_per_kwh": 0.15}
    reply = model_for(server, pricing=pricing).query(MESSAGES)
    # 1600 / (3 * 365 * 86400) + 0.35 kW * 0.15 / 3600 = 1.6910e-5 + 1.4583e-5 = 3.1493e-5 $/s
    assert LocalPricing(**pricing).per_gpu_second() == pytest.approx(3.1493e-5, rel=1e-3)
    assert reply.cost_usd == pytest.approx(reply.latency_s * 3.1493e-5, rel=1e-3)
    assert reply.latency_s >= 0.3


def test_rate_limit_and_server_errors_are_retried(server):
    server.fail_next(429, times=2)
    server.fail_next(500)
    server.answer("ok")
    reply = model_for(server, stream=False).query(MESSAGES)
    assert reply.content == "ok"
    assert len([r for r in server.requests if r["path"].endswith("/chat/completions")]) == 4


def test_persistent_failure_becomes_a_model_error(server):
    server.fail_next(503, times=10)
    with pytest.raises(ModelError, match="failed after 3 attempts"):
        model_for(server, retries=3).query(MESSAGES)


def test_client_error_is_not_retried(server):
    server.fail_next(401)
    with pytest.raises(ModelError, match="HTTP 401"):
        model_for(server).query(MESSAGES)
    assert len([r for r in server.requests if r["path"].endswith("/chat/completions")]) == 1


def test_the_context_window_is_the_servers_max_model_len(server):
    """The config says 32768; the server enforces 1000: the pre-check and the manifest use 1000."""
    server.max_model_len = 1000
    model = model_for(server, max_tokens=900, context_window=32768, tokenize_endpoint=True)
    described = model.describe()
    assert (described["context_window"], described["context_window_configured"]) == (1000, 32768)
    assert described["context_window_source"] == "server /v1/models max_model_len"
    sent = len(server.requests)
    with pytest.raises(ContextLimitError, match=r"the prompt is 200 tokens; with max_tokens 900 it exceeds the context "
                                                r"window of 1000 \(server /v1/models max_model_len\)"):
        model.query(MESSAGES)
    assert [r["path"] for r in server.requests[sent:]] == ["/tokenize"]  # counted before sending: no completion


def test_the_configured_window_applies_when_the_server_reports_none(server):
    server.max_model_len = None  # llama.cpp, Ollama: no max_model_len in /v1/models
    model = model_for(server, max_tokens=900, context_window=1000)
    assert model.describe()["context_window_source"] == "model.context_window"
    with pytest.raises(ContextLimitError, match="about 200 tokens.*context window of 1000"):
        model.query(MESSAGES)


@pytest.mark.parametrize("overflow, stream, max_tokens, expected", [
    ("serving", False, 100, r"maximum context length is 150 tokens\. However, your request has 200 input tokens"),
    ("serving", True, 100, r"maximum context length is 150 tokens\. However, your request has 200 input tokens"),
    ("engine", True, 100, r"The decoder prompt \(length 200\) is longer than the maximum model length of 150"),
    ("engine", False, 100, r"The decoder prompt \(length 200\) is longer than the maximum model length of 150"),
])
def test_vllm_overflow_refusals_are_context_limits_never_retried(server, overflow, stream, max_tokens, expected):
    model = model_for(server, stream=stream, max_tokens=max_tokens)
    server.max_model_len, server.overflow = 150, overflow  # the pre-check saw a larger window: the server refuses
    with pytest.raises(ContextLimitError, match=expected):
        model.query(MESSAGES)
    assert server.completions() == 1


def test_max_tokens_over_the_remaining_window_is_a_context_limit(server):
    model = model_for(server, max_tokens=900)
    server.max_model_len = 1000
    with pytest.raises(ContextLimitError, match=r"'max_tokens' or 'max_completion_tokens' is too large: 900\. "
                                                r"This model's maximum context length is 1000 tokens"):
        model.query(MESSAGES)
    assert server.completions() == 1


def test_an_overflow_reported_as_a_server_error_is_not_retried(server):
    """Some vLLM versions answered an engine ValueError with a 500: still a context limit, not model_error."""
    server.fail_next(500, message="The decoder prompt (length 9000) is longer than the maximum model length of 8192.")
    with pytest.raises(ContextLimitError, match="decoder prompt"):
        model_for(server, stream=False).query(MESSAGES)
    assert server.completions() == 1


def test_cached_prompt_tokens_need_the_servers_prompt_tokens_details(server):
    server.cached_tokens, server.prompt_tokens_details = 150, False  # vLLM without --enable-prompt-tokens-details
    reply = model_for(server).query(MESSAGES)
    assert (reply.usage.prompt_tokens, reply.usage.cached_prompt_tokens) == (200, 0)


def test_unreachable_server_is_a_model_error_before_any_instance():
    model = make_model({"name": "x", "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                        "retry_initial_wait": 0.01})
    with pytest.raises(ModelError, match="GET http://127.0.0.1:9/v1/models failed after 3 attempts"):
        model.open(None)


def test_unserved_model_and_missing_key_are_config_errors(server, monkeypatch):
    with pytest.raises(ConfigError, match="'other' is not served by .* it serves: fake-coder"):
        model_for(server, model="other")
    monkeypatch.delenv("ATLAS_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="ATLAS_TEST_KEY"):
        model_for(server, api_key_env="ATLAS_TEST_KEY")
    monkeypatch.setenv("ATLAS_TEST_KEY", "sk-test-secret")
    model = model_for(server, api_key_env="ATLAS_TEST_KEY")
    model.query(MESSAGES)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in json.dumps(model.describe())


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("tokenize", [True, False])
def test_reasoning_the_server_did_not_count_is_counted_here(server, stream, tokenize):
    """vLLM 0.26's chat completions return a reasoning parser's text but no reasoning_tokens: ATLAS counts it with
    the server's tokenizer where it has /tokenize, else estimates it, and says which."""
    thought = "I should list the files first, then read the failing test."
    server.answer("Listing.", reasoning=thought, completion_tokens=40)
    reply = model_for(server, stream=stream, tokenize_endpoint=tokenize).query(MESSAGES)
    assert reply.extra["reasoning"] == thought
    assert reply.extra["thinking_tokens_counted"] == ("server /tokenize" if tokenize else "estimate")
    assert reply.usage.thinking_tokens == (len(thought) // 4 if tokenize else estimate_text(thought)) > 0
    assert any(r["body"].get("prompt") == thought for r in server.requests if r["path"] == "/tokenize") == tokenize


def test_a_servers_own_reasoning_count_is_kept(server):
    server.reasoning = "Because ls lists the files."  # a server that reports completion_tokens_details
    server.answer("ok")
    reply = model_for(server, tokenize_endpoint=True).query(MESSAGES)
    assert reply.usage.thinking_tokens == len(server.reasoning) // 4 and "thinking_tokens_counted" not in reply.extra
