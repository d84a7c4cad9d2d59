"""The Anthropic backend through the real `anthropic` SDK, against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import traceback

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from atlas.config import CONF_DIR, ConfigError
from atlas.models import ContextLimitError, ModelError, make_model
from atlas.models.base import ToolCall
from tests.conftest import atlas
from tests.fake_anthropic import FakeAnthropic

# anthropic 2.x warns that these (older) model ids are deprecated; the wire format is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

KEY = "sk-ant-test-Zq7Xw9-must-never-leak"
CACHE = {"type": "ephemeral"}
PRESETS = {"claude-sonnet": "claude-sonnet-4-5-20250929", "claude-sonnet-3.7": "claude-3-7-sonnet-20250219",
           "claude-sonnet-4": "claude-sonnet-4-20250514", "claude-sonnet-4.5": "claude-sonnet-4-5-20250929"}
CONVERSATION = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "Fix issue 1."}]
BASH_TOOL = {"type": "function", "function": {
    "name": "bash", "description": "Run a shell command.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}


@pytest.fixture
def server():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def make(server, monkeypatch):
    """Builds the claude-sonnet-4 preset pointed at the fake server, with millisecond retry waits."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())

    def build(**overrides):
        return make_model({**preset, "base_url": server.url, "retries": 3, "retry_initial_wait": 0.01, **overrides})

    return build


def sent_key(headers: dict[str, str]) -> str | None:
    """The API key as the SDK sent it: `x-api-key` in older releases, `Authorization: Bearer` in 2.12."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or (bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None)


def test_text_answer_maps_usage_and_cost(make, server):
    server.reply("Done.", input_tokens=1000, cache_read_input_tokens=20_000, cache_creation_input_tokens=3000,
                 output_tokens=500)
    response = make().query(CONVERSATION)
    assert (response.content, response.finish_reason, response.tool_calls) == ("Done.", "end_turn", [])
    usage = response.usage
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.cache_write_tokens) == (24_000, 20_000, 3000)
    assert (usage.completion_tokens, usage.thinking_tokens, usage.estimated) == (500, 0, False)
    # 1000 x $3 + 20000 x $0.30 + 3000 x $3.75 + 500 x $15 = $27,750 per million tokens = $0.02775
    assert response.cost_usd == pytest.approx(0.02775)
    assert response.extra == {"thinking": [], "model": "claude-sonnet-4-20250514", "request_id": "req_fake_1"}
    assert response.latency_s > 0


def test_request_lifts_system_merges_turns_and_marks_cache(make, server):
    server.reply("ok", input_tokens=1, output_tokens=1)
    make().query([*CONVERSATION, {"role": "user", "content": "More context."},
                  {"role": "assistant", "content": "Looking."}, {"role": "user", "content": "Output: 3 files"}])
    sent = server.requests[0]
    body = sent.body
    assert sent_key(sent.headers) == KEY
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("claude-sonnet-4-20250514", 8192, 0.0)
    assert "thinking" not in body and "top_p" not in body and "tools" not in body
    assert body["system"] == [{"type": "text", "text": "You fix bugs.", "cache_control": CACHE}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Fix issue 1."},
                                     {"type": "text", "text": "More context.", "cache_control": CACHE}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Looking."}]},
        {"role": "user", "content": [{"type": "text", "text": "Output: 3 files", "cache_control": CACHE}]},
    ]


def test_prompt_caching_off_sends_no_breakpoints(make, server):
    server.reply("ok", input_tokens=1, output_tokens=1)
    make(prompt_caching=False).query(CONVERSATION)
    assert "cache_control" not in json.dumps(server.requests[0].body)


def test_thinking_is_requested_at_temperature_1_and_kept_in_extra(make, server):
    server.reply("Patch ready.", thinking=["t" * 400], input_tokens=10, output_tokens=300)
    model = make(thinking_budget=2048, temperature=0.2)
    response = model.query(CONVERSATION)
    body = server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["temperature"] == 1.0
    assert response.content == "Patch ready."
    assert response.extra["thinking"] == [{"type": "thinking", "thinking": "t" * 400, "signature": "sig-0"}]
    assert response.usage.thinking_tokens == 100  # 400 characters / 4: the API reports no separate count here
    described = model.describe()
    assert (described["temperature"], described["configured_temperature"]) == (1.0, 0.2)


def test_thinking_tokens_reported_by_the_server_win_over_the_estimate(make, server):
    server.reply("ok", thinking=["short"], input_tokens=10, output_tokens=900, thinking_tokens=850)
    assert make(thinking_budget=2048).query(CONVERSATION).usage.thinking_tokens == 850


def test_thinking_budget_must_fit_the_api_rules(make):
    with pytest.raises(ConfigError, match="model.<root>.*thinking_budget"):
        make(thinking_budget=512)


def test_tool_calls_round_trip(make, server):
    server.reply("Listing.", tool_uses=[{"id": "toolu_1", "name": "bash", "input": {"command": "ls"}}],
                 stop_reason="tool_use", input_tokens=50, output_tokens=20)
    model = make()
    response = model.query(CONVERSATION, tools=[BASH_TOOL])
    assert server.requests[0].body["tools"] == [{"name": "bash", "description": "Run a shell command.",
                                                 "input_schema": BASH_TOOL["function"]["parameters"]}]
    assert response.tool_calls == [ToolCall(id="toolu_1", name="bash", arguments='{"command": "ls"}')]
    assert (response.content, response.finish_reason) == ("Listing.", "tool_use")

    server.reply("Two files.", input_tokens=80, output_tokens=5)
    call = {"id": "toolu_1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
    model.query([*CONVERSATION, {"role": "assistant", "content": "Listing.", "tool_calls": [call]},
                 {"role": "tool", "tool_call_id": "toolu_1", "content": "a.py\nb.py\n"}], tools=[BASH_TOOL])
    assert server.requests[1].body["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "Listing."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "bash",
                                           "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py\nb.py\n",
                                      "cache_control": CACHE}]},
    ]


def test_missing_key_stops_make_model(server, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_model({**preset, "base_url": server.url})
    assert server.requests == []


def test_auth_error_is_not_retried_and_never_shows_the_key(make, server):
    server.fail(401, message=f"invalid x-api-key: {KEY}")  # a server that echoes the key back
    model = make()
    with pytest.raises(ModelError, match="AuthenticationError") as error:
        model.query(CONVERSATION)
    assert len(server.requests) == 1
    assert KEY not in "".join(traceback.format_exception(error.value))
    assert KEY not in json.dumps(model.describe())


def test_rate_limit_is_retried_until_success(make, server):
    server.fail(429, times=2)
    server.reply("ok", input_tokens=1, output_tokens=1)
    assert make().query(CONVERSATION).content == "ok"
    assert len(server.requests) == 3


def test_overload_that_persists_is_a_model_error_after_the_configured_attempts(make, server, caplog):
    server.fail(529, times=None, message=f"overloaded (key {KEY})")
    with caplog.at_level(logging.WARNING), pytest.raises(ModelError, match="after 3 attempts.*OverloadedError") as e:
        make().query(CONVERSATION)
    assert len(server.requests) == 3
    assert KEY not in str(e.value) and "retry 2" in caplog.text


def test_timeout_is_retried_then_a_model_error(make, server):
    server.delay = 1.0
    with pytest.raises(ModelError, match="after 2 attempts.*APITimeoutError"):
        make(timeout=0.2, retries=2).query(CONVERSATION)
    assert len(server.requests) == 2


def test_prompt_too_long_is_a_context_limit(make, server):
    server.fail(400)
    with pytest.raises(ContextLimitError, match="prompt is too long"):
        make().query(CONVERSATION)
    assert len(server.requests) == 1


def test_other_bad_request_is_a_model_error(make, server):
    server.fail(400, message="messages: roles must alternate")
    with pytest.raises(ModelError, match="BadRequestError.*roles must alternate"):
        make().query(CONVERSATION)


def test_prompt_estimated_over_the_window_is_refused_before_sending(make, server):
    # 40,000 characters ~ 10,000 tokens, + max_tokens 8192 > 16,000
    with pytest.raises(ContextLimitError, match="context window of 16000"):
        make(context_window=16_000).query([{"role": "user", "content": "x" * 40_000}])
    assert server.requests == []


def test_preset_prints_through_the_cli():
    result = atlas("run", "--cfg", "job", "model=claude-sonnet-4", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "model: claude-sonnet-4-20250514" in result.stdout


def test_every_preset_composes_and_validates(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        for preset, model_id in PRESETS.items():
            config = compose(config_name="config", overrides=[f"model={preset}"])
            described = make_model(OmegaConf.to_container(config.model, resolve=True)).describe()
            assert described["model"] == model_id
            assert described["pricing"]["input_per_mtok"] == 3.0 and described["pricing"]["output_per_mtok"] == 15.0
