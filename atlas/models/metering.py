"""A wrapper every backend runs behind: caps requests in flight and measures prompt-prefix reuse.

Workers and in-flight model requests are separate knobs: many agents can be busy in
containers while only `run.max_inflight_requests` of them wait on the GPU. Prefix reuse
is the share of the previous request's prompt that the next request repeats from its
start -- what a server's prefix cache can serve again without recomputing. An
append-only history keeps it at 100%; anything that rewrites earlier messages shows up.
"""

from __future__ import annotations

import threading
from typing import Any

from atlas.datasets import Instance
from atlas.models.base import Model, ModelResponse


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


class MeteredModel(Model):
    def __init__(self, inner: Model, limiter: threading.Semaphore | None = None):
        super().__init__(inner.config)
        self.inner, self.limiter = inner, limiter
        self.scaffold, self.gpu, self.reply_format = inner.scaffold, inner.gpu, inner.reply_format
        self._previous: list[str] | None = None
        self.reused_chars = 0
        self.compared_chars = 0

    def for_instance(self, instance: Instance) -> "MeteredModel":
        return MeteredModel(self.inner.for_instance(instance), self.limiter)

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        if self.limiter is None:
            response = self.inner.query(messages, tools)
        else:
            with self.limiter:
                response = self.inner.query(messages, tools)
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

    def close(self) -> None:
        self.inner.close()

    @property
    def name(self) -> str:
        return self.inner.name
