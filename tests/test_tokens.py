"""One token count everywhere: the server's /tokenize when it has one, else atlas.models.tokens' single estimate."""

import json

import pytest
import yaml

from atlas.config import CONF_DIR
from atlas.agents.context import ContextSettings, ContextWindow
from atlas.models import ContextLimitError, make_model
from atlas.models.deterministic import GoldModel
from atlas.models.tokens import estimate_messages, estimate_text
from tests.fake_anthropic import FakeAnthropic
from tests.fake_openai import FakeOpenAIServer

CALL = {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": "ls " * 50})}}
REQUEST = [{"role": "system", "content": "You fix bugs. " * 40}, {"role": "user", "content": "Fix issue 1. " * 30},
           {"role": "assistant", "content": "Looking.", "tool_calls": [CALL]},
           {"role": "tool", "tool_call_id": "c1", "content": "a.py\nb.py\n" * 60}]
TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]


def test_the_fallback_is_four_characters_a_token_over_everything_sent():
    assert (estimate_text(""), estimate_text("abc"), estimate_text("x" * 4000)) == (0, 1, 1000)
    text_only = estimate_messages([{"role": "user", "content": "x" * 400}])
    assert text_only == 100
    assert estimate_messages([{"role": "user", "content": [{"type": "text", "text": "x" * 400}]}]) == 100
    assert estimate_messages(REQUEST, TOOLS) > estimate_messages(REQUEST) > estimate_messages(REQUEST[:2]) + 100


@pytest.fixture
def openai_server():
    fake = FakeOpenAIServer(model="fake-coder", max_model_len=None).start()  # reports no window
    yield fake
    fake.stop()


def test_every_estimating_place_agrees(openai_server, monkeypatch):
    """Backend pre-check, scaffold budget, deterministic usage and the Anthropic pre-check: one number."""
    expected = estimate_messages(REQUEST, TOOLS)
    openai = make_model({"name": "x", "backend": "openai", "model": "fake-coder", "base_url": openai_server.base_url})
    openai.open(None)
    assert openai.count_tokens(REQUEST, TOOLS) == (expected, False)
    assert ContextWindow(ContextSettings()).estimate(REQUEST, TOOLS) == expected
    gold = GoldModel({"name": "gold"}, answers=["done"])
    assert gold.query(REQUEST).usage.prompt_tokens == estimate_messages(REQUEST)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeAnthropic() as fake:
        preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())
        claude = make_model({**preset, "base_url": fake.url, "context_window": expected + 9, "max_tokens": 10})
        assert claude.count_tokens(REQUEST, TOOLS) == (expected, False)
        with pytest.raises(ContextLimitError, match=f"about {expected} tokens"):
            claude.query(REQUEST, TOOLS)  # one token over: the same count as everywhere else


def test_with_tokenize_the_scaffold_and_the_backend_use_the_servers_count(openai_server):
    model = make_model({"name": "x", "backend": "openai", "model": "fake-coder", "base_url": openai_server.base_url,
                        "tokenize_endpoint": True, "max_tokens": 10})
    model.open(None)
    served = sum(len(str(m.get("content") or "")) for m in REQUEST) // 4 + len(json.dumps(TOOLS)) // 4
    assert served != estimate_messages(REQUEST, TOOLS)  # the server's tokenizer, not the fallback
    window = ContextWindow(ContextSettings(context_budget=served), counter=model.count_tokens)
    assert window.estimate(REQUEST, TOOLS) == served
    window.fit(REQUEST, 2, TOOLS)  # exactly at the budget: fits
    model.query(REQUEST, TOOLS)
    # the scaffold's checks and the backend's pre-check of the same request cost one /tokenize
    assert [r["path"] for r in openai_server.requests if r["path"] == "/tokenize"] == ["/tokenize"]
    assert ContextWindow(ContextSettings(context_budget=served - 1), counter=model.count_tokens).estimate(
        REQUEST, TOOLS) == served
