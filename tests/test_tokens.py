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


def chatml_tokenizer():
    """A byte-level BPE like Qwen's, trained here on ATLAS's own source, with ChatML's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=["<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    sources = [p.read_text() for p in sorted((CONF_DIR.parent / "atlas").rglob("*.py"))]
    tokenizer.train_from_iterator(sources, trainer)
    return tokenizer


def chatml(messages: list[dict], tools: list[dict] | None) -> str:
    system = f"<|im_start|>system\n# Tools\n{json.dumps(tools)}<|im_end|>\n" if tools else ""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}"
                    + (f"\n<tool_call>{json.dumps(m['tool_calls'])}</tool_call>" if m.get("tool_calls") else "")
                    + "<|im_end|>\n" for m in messages)
    return system + turns + "<|im_start|>assistant\n"


def test_a_grown_history_never_costs_more_than_its_bound():
    """GrowthBound against a real byte-level tokenizer: the exact count of every grown history stays under
    the bound from its last exact count, whatever it appended (code, prose, CJK, emoji, escapes, tool calls)."""
    import random

    from atlas.models.tokens import GrowthBound

    tokenizer = chatml_tokenizer()
    rng = random.Random(7)
    pieces = ["def f(x):\n    return x + 1\n", "Traceback (most recent call last):\n", "\u4f60\u597d\u4e16\u754c", "\U0001f41b\U0001f525",
              "\\n\\t\"quoted\"", " " * 9, "e\u0301", "\x00\x1f", "SELECT * FROM t;"]
    for trial in range(40):
        tools = TOOLS if trial % 2 else None
        messages = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": f"Issue {trial}"}]
        bound, exact = GrowthBound(), lambda m, tools=tools: len(tokenizer.encode(chatml(m, tools)).ids)
        bound.remember(messages, tools, exact(messages))
        for _ in range(rng.randrange(1, 6)):
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
            message = {"role": rng.choice(["assistant", "user", "tool"]), "content": text}
            if message["role"] == "assistant" and rng.random() < 0.5:
                message["tool_calls"] = [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": text})}}]
            messages.append(message)
            assert exact(messages) <= bound.upper_bound(messages, tools), (trial, messages[-1])
            if rng.random() < 0.3:  # the backend asks the server again now and then
                bound.remember(messages, tools, exact(messages))
        # a rewritten history (an elided observation) is not the last counted one grown: no bound
        bound.remember(messages, tools, exact(messages))
        rewritten = [*messages[:2], {"role": "user", "content": "[output elided]"}, *messages[3:]]
        assert bound.upper_bound(rewritten, tools) is None and bound.upper_bound(messages, tools) == exact(messages)
        assert bound.exact(messages, tools) == exact(messages) and bound.exact(messages[:-1], tools) is None


def test_the_pre_check_asks_the_server_only_when_the_bound_comes_near_the_window(openai_server):
    """An agent's growing history: /tokenize for its first request, none while the bound leaves room, again near
    the window; a request that does not fit is still refused on the server's exact count, and a rewritten
    history is counted again."""
    openai_server.max_model_len = 2000  # the stand-in's tokenizer: four characters a token
    model = make_model({"name": "x", "backend": "vllm", "model": "fake-coder", "base_url": openai_server.base_url,
                        "tokenize_endpoint": True, "max_tokens": 100, "retry_initial_wait": 0.01})
    model.open(None)

    def counted(messages: list[dict]) -> int:
        before = len([r for r in openai_server.requests if r["path"] == "/tokenize"])
        model.query(messages)
        return len([r for r in openai_server.requests if r["path"] == "/tokenize"]) - before

    history = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "Fix issue 1."}]
    assert counted(history) == 1
    per_turn = [{"role": "assistant", "content": "x" * 200}, {"role": "user", "content": "y" * 400}]
    asked = []
    for _ in range(10):  # each turn: ~150 tokens on the server, ~660 bytes of bound
        history += [dict(m) for m in per_turn]
        asked.append(counted(history))
    # a turn adds 150 tokens and about 700 bytes of bound to the last exact count: asked when that passes the
    # 1,900 tokens of room (2,000 less max_tokens), so less often early and every turn near the window
    assert asked == [0, 0, 1, 0, 0, 1, 0, 1, 1, 1]
    history += [{"role": "user", "content": "z" * 2400}]  # 600 more tokens: over 2,000 with max_tokens 100
    with pytest.raises(ContextLimitError, match="the prompt is 2106 tokens"):
        model.query(history)
    rewritten = [*history[:2], {"role": "user", "content": "[output elided]"}]
    assert counted(rewritten) == 1
