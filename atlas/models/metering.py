"""A wrapper every backend runs behind: caps requests in flight and measures prompt-prefix reuse.

Workers and in-flight model requests are separate knobs: many agents can be busy in
containers while only `run.max_inflight_requests` of them wait on the GPU. Prefix reuse
is the share of the previous request's prompt that the next request repeats from its
start -- what a server's prefix cache can serve again without recomputing. An
append-only history keeps it at 100%; anything that rewrites earlier messages shows up.

It is also where a stopping run abandons its model calls: `cancel()` sets an event every query
waits on beside its answer, so a worker waiting on a slow server returns within a fraction of a
second with a ModelError (the runner turns it into Cancelled), whether or not the backend's own
`cancel()` (closing its HTTP client) interrupts the request itself.

A server computes only so many requests at once (llama.cpp's slots, vLLM's max_num_seqs): once
the model is open, the cap on requests in flight is lowered to what the server says it serves
at once, when that is fewer than the workers, and the console says so once. More requests
would only queue inside the server, where the client's timeout runs while nothing is computed.

Each instance also counts the empty replies its server sent (retried by the backend): every
assistant turn records the count so far, and a model_error caused by them names it.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from atlas.datasets import Instance
from atlas.models.base import EmptyReplyError, Model, ModelError, ModelResponse


def _render(messages: list[dict[str, Any]]) -> list[str]:
    return [f"{m.get('role')}\n{m.get('content') or ''}\n{m.get('tool_calls') or ''}" for m in messages]


def shared_prefix_chars(previous: list[str], current: list[str]) -> int:
    """Characters of `current` (messages in order) that equal the start of `previous`."""
    shared = 0
    for old, new in zip(previous, current):
        if old == new:
            shared += len(new)
            continue
        for a, b in zip(old, new):
            if a != b:
                break
            shared += 1
        break
    return shared


def inflight_cap(workers: int, max_inflight: int | None, slots: int | None) -> int | None:
    """Requests allowed in flight: run.max_inflight_requests (else the workers), at most the server's slots;
    None when nothing needs capping."""
    wanted = max_inflight or workers
    if slots is not None and slots < wanted:
        return slots
    return max_inflight


def _tokens(usage) -> str:
    if usage is None:
        return "unknown tokens"
    return f"{usage.prompt_tokens} prompt and {usage.completion_tokens} completion tokens"


CANCEL_POLL_S = 0.1


class MeteredModel(Model):
    def __init__(self, inner: Model, limiter: threading.Semaphore | None = None, max_inflight: int | None = None,
                 cancelled: threading.Event | None = None):
        super().__init__(inner.config)
        if limiter is None and max_inflight:
            limiter = threading.BoundedSemaphore(max_inflight)
        self.inner, self.limiter, self.max_inflight = inner, limiter, max_inflight
        self.cancelled = cancelled or threading.Event()  # shared by every instance's copy
        self.scaffold, self.gpu, self.reply_format = inner.scaffold, inner.gpu, inner.reply_format
        self.workers = inner.workers
        self._previous: list[str] | None = None
        self.reused_chars = 0
        self.compared_chars = 0
        self.empty_replies = 0  # this instance's empty replies, retried or not

    def for_instance(self, instance: Instance) -> "MeteredModel":
        return MeteredModel(self.inner.for_instance(instance), self.limiter, self.max_inflight, self.cancelled)

    def _limited_query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> ModelResponse:
        if self.limiter is None:
            return self.inner.query(messages, tools)
        with self.limiter:
            return self.inner.query(messages, tools)

    def _cancellable_query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> ModelResponse:
        """The query on a helper thread, abandoned (ModelError) as soon as the run is cancelled."""
        if self.cancelled.is_set():
            raise ModelError("cancelled: the run is stopping")
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                outcome["response"] = self._limited_query(messages, tools)
            except BaseException as e:  # handed to the waiting worker
                outcome["error"] = e
            finally:
                done.set()

        threading.Thread(target=call, daemon=True, name="atlas-model-call").start()
        while not done.wait(CANCEL_POLL_S):
            if self.cancelled.is_set():
                raise ModelError("cancelled: the run is stopping")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        try:
            response = self._cancellable_query(messages, tools)
        except EmptyReplyError as e:
            self.empty_replies += e.empty
            raise EmptyReplyError(f"{e} ({self.empty_replies} empty replies in this instance; they cost "
                                  f"{_tokens(e.usage)})", self.empty_replies, e.usage) from None
        self.empty_replies += response.extra.get("empty_replies", 0)
        response.extra["empty_replies_in_instance"] = self.empty_replies
        current = _render(messages)
        if self._previous is not None:
            total = sum(map(len, self._previous))
            shared = shared_prefix_chars(self._previous, current)
            self.reused_chars += shared
            self.compared_chars += total
            response.extra["prefix_reuse"] = round(shared / total, 4) if total else None
        self._previous = current
        return response

    def prefix_reuse(self) -> float | None:
        """Over all requests after the first: the share of each previous prompt repeated as the next one's start."""
        return round(self.reused_chars / self.compared_chars, 4) if self.compared_chars else None

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> tuple[int, bool]:
        return self.inner.count_tokens(messages, tools)

    def open(self, run_dir) -> None:
        self.inner.workers = self.workers
        self.inner.open(run_dir)
        slots = self.inner.server_slots()
        cap = inflight_cap(self.workers, self.max_inflight, slots[0] if slots else None)
        if cap is not None and cap != self.max_inflight:
            self.limiter, self.max_inflight = threading.BoundedSemaphore(cap), cap
            print(f"note: the model server computes {cap} request(s) at once ({slots[1]}); with run.workers="
                  f"{self.workers}, at most {cap} model request(s) are in flight (run.max_inflight_requests), "
                  "the other agents wait for a slot", file=sys.stderr, flush=True)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def accounting(self) -> dict[str, Any]:
        return self.inner.accounting()

    def cancel(self) -> None:
        self.cancelled.set()
        self.inner.cancel()

    def close(self) -> None:
        self.inner.close()

    @property
    def name(self) -> str:
        return self.inner.name
