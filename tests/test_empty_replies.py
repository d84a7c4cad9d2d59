"""Empty replies are server faults (retried, then model_error), and usage a stream omits is counted, never 0.

These are protocol shapes, so the OpenAI-wire stand-in (tests/fake_openai.py) serves them; the same
behaviour against the real llama.cpp server is in tests/test_llamacpp_real.py.
"""

import pytest

from atlas.models import EmptyReplyError, ModelError
from atlas.models.metering import MeteredModel, inflight_cap
from atlas.models.tokens import estimate_messages
from tests.fake_openai import count_tokens
from tests.test_openai_backend import model_for

MESSAGES = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "u" * 404}]


@pytest.mark.parametrize("stream", [True, False])
def test_an_empty_reply_is_retried_and_counted(server, stream):
    server.answer("", completion_tokens=30)  # usage says 30 tokens came out, yet nothing did
    server.answer("```bash\nls\n```", completion_tokens=5)
    metered = MeteredModel(model_for(server, stream=stream, retries=3))
    reply = metered.query(MESSAGES)
    assert reply.content == "```bash\nls\n```"
    assert reply.extra["empty_replies"] == 1 and reply.extra["empty_replies_in_instance"] == 1
    assert reply.extra["empty_reply_usage"]["completion_tokens"] == 30  # what the fault cost, metered apart
    assert reply.usage.completion_tokens == 5
    assert server.completions() == 2


def test_a_persistent_empty_reply_is_a_model_error_naming_the_count(server):
    for _ in range(3):
        server.answer("   \n", completion_tokens=12)  # whitespace carries nothing either
    metered = MeteredModel(model_for(server, retries=3))
    with pytest.raises(EmptyReplyError) as failure:
        metered.query(MESSAGES)
    assert isinstance(failure.value, ModelError)  # the runner's infrastructure failure: model_error, never a format error
    message = str(failure.value)
    assert "empty reply" in message and "3 time(s) in a row" in message and "12 completion tokens" in message
    assert "(3 empty replies in this instance; they cost 603 prompt and 36 completion tokens)" in message
    assert metered.empty_replies == 3 and server.completions() == 3


def test_the_instance_count_adds_up_over_turns(server):
    server.answer("")
    server.answer("one")
    server.answer("")
    server.answer("")
    server.answer("two")
    metered = MeteredModel(model_for(server, retries=3))
    assert metered.query(MESSAGES).extra["empty_replies_in_instance"] == 1
    second = metered.query(MESSAGES)
    assert (second.extra["empty_replies"], second.extra["empty_replies_in_instance"]) == (2, 3)


@pytest.mark.parametrize("stream", [True, False])
def test_reasoning_or_a_tool_call_alone_is_not_empty(server, stream):
    server.answer("", reasoning="I should list the files first.")
    server.answer("", tool_calls=[{"name": "bash", "arguments": '{"command": "ls"}'}])
    model = model_for(server, stream=stream, retries=1)
    thought = model.query(MESSAGES)
    assert thought.content == "" and thought.extra["reasoning"] == "I should list the files first."
    assert model.query(MESSAGES).tool_calls[0].name == "bash"
    assert server.completions() == 2


@pytest.mark.parametrize("stream", [True, False])
def test_usage_omitted_is_counted_by_the_servers_tokenizer(server, stream):
    server.omit_usage = True
    server.answer("x" * 40)
    reply = model_for(server, stream=stream, tokenize_endpoint=True).query(MESSAGES)
    assert reply.usage.prompt_tokens == count_tokens(MESSAGES) == 201  # the server's own count of this request
    assert reply.usage.completion_tokens == 10 and reply.usage.estimated is False
    assert any(r["path"] == "/tokenize" for r in server.requests)


def test_usage_omitted_without_a_tokenizer_is_estimated_and_marked(server):
    server.omit_usage = True
    server.answer("x" * 40)
    reply = model_for(server, tokenize_endpoint=False).query(MESSAGES)
    assert reply.usage.prompt_tokens == estimate_messages(MESSAGES) > 0  # never 0 for a request that sent a prompt
    assert reply.usage.completion_tokens == 10 and reply.usage.estimated is True


def test_inflight_cap_follows_the_servers_slots():
    assert inflight_cap(workers=2, max_inflight=None, slots=1) == 1  # more agents than slots: capped
    assert inflight_cap(workers=2, max_inflight=None, slots=4) is None  # room for all: no cap
    assert inflight_cap(workers=4, max_inflight=3, slots=2) == 2  # the configured cap, lowered to the slots
    assert inflight_cap(workers=4, max_inflight=2, slots=8) == 2
    assert inflight_cap(workers=4, max_inflight=None, slots=None) is None  # a server that does not say
