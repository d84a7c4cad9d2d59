"""The metering wrapper: in-flight request cap and prompt-prefix reuse."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from atlas.models.base import Model, ModelResponse
from atlas.models.metering import MeteredModel, shared_prefix_chars


class SlowModel(Model):
    """Answers after a pause and counts how many calls overlap."""

    def __init__(self):
        super().__init__({"name": "slow", "backend": "test"})
        self.lock = threading.Lock()
        self.active = self.peak = 0

    def query(self, messages, tools=None):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.05)
        with self.lock:
            self.active -= 1
        return ModelResponse(content="ok")


def test_inflight_cap_holds_under_more_workers():
    inner = SlowModel()
    model = MeteredModel(inner, threading.BoundedSemaphore(2))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: model.query([{"role": "user", "content": "x"}]), range(16)))
    assert inner.peak == 2
    uncapped = SlowModel()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: MeteredModel(uncapped).query([{"role": "user", "content": "x"}]), range(16)))
    assert uncapped.peak > 2


def test_shared_prefix_counts_whole_messages_then_characters():
    assert shared_prefix_chars(["abc", "def"], ["abc", "def", "ghi"]) == 6
    assert shared_prefix_chars(["abc", "dXf"], ["abc", "def"]) == 4
    assert shared_prefix_chars(["zbc"], ["abc"]) == 0


def test_append_only_history_reuses_the_whole_previous_prompt():
    model = MeteredModel(SlowModel())
    history = [{"role": "system", "content": "s" * 100}, {"role": "user", "content": "u" * 100}]
    first = model.query(list(history))
    assert "prefix_reuse" not in first.extra
    history += [{"role": "assistant", "content": "a" * 50}, {"role": "user", "content": "o" * 50}]
    second = model.query(list(history))
    # appending keeps the whole previous prompt as the new prompt's start
    assert second.extra["prefix_reuse"] == 1.0
    history[1] = {"role": "user", "content": "u" * 50 + "CHANGED" + "u" * 43}  # an edit early in the history
    third = model.query(list(history))
    # system (100 chars + role) and 50 of the user message's chars repeat, of the previous 4 messages
    previous = sum(len(f"{m['role']}\n{m['content']}\n") for m in history[:1]) + len("user\n") + 50
    assert third.extra["prefix_reuse"] == round(previous / (len("system\n\n") + 100 + len("user\n\n") + 100
                                                             + len("assistant\n\n") + 50 + len("user\n\n") + 50), 4)
    assert model.prefix_reuse() < 1.0
