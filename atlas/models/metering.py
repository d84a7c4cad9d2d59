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
"""

from __future__ import annotations

import threading
from typing import Any

from atlas.datasets import Instance
from atlas.models.base import Model, ModelError, ModelResponse


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


CANCEL_POLL_S = 0.1


class MeteredModel(Model):
    def __init__(self, inner: Model, limiter: threading.Semaphore | None = None,
                 cancelled: threading.Event | None = None):
        super().__init__(inner.config)
        self.inner, self.limiter = inner, limiter
        self.cancelled = cancelled or threading.Event()  # shared by every instance's copy
        self.scaffold, self.gpu, self.reply_format = inner.scaffold, inner.gpu, inner.reply_format
        self._previous: list[str] | None = None
        self.reused_chars = 0
        self.compared_chars = 0

    def for_instance(self, instance: Instance) -> "MeteredModel":
        return MeteredModel(self.inner.for_instance(instance), self.limiter, self.cancelled)

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
        response = self._cancellable_query(messages, tools)
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
        self.inner.open(run_dir)

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
