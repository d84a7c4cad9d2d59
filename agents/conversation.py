"""The message history of one instance: what the model sees, what the trajectory records, what it costs.

Every scaffold talks to its model through `Conversation.ask`, which applies the limits
and the context policy before the call and does the accounting after it, so the loops
only decide what to send and what to do with the answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from atlas.interfaces import Deadline
from atlas.agents.context import ContextSettings, ContextWindow
from atlas.agents.limits import LimitSettings, Meter
from atlas.models import ContextLimitError, Model, ModelResponse
from atlas.records import Status
from atlas.trajectory import Trajectory


class ScaffoldSettings(LimitSettings, ContextSettings):
    """The settings every scaffold takes; each adds its own and forbids unknown keys."""

    model_config = ConfigDict(extra="forbid")
    name: str


class Conversation:
    def __init__(self, settings: ScaffoldSettings, trajectory: Trajectory, deadline: Deadline):
        self.trajectory = trajectory
        self.meter = Meter(settings, deadline)
        self.window = ContextWindow(settings)
        self.messages: list[dict[str, Any]] = []
        self.first_observation = 0  # messages before this index (system, task) are never elided

    def add(self, role: str, content: str, **meta: Any) -> None:
        """Append a system or user message; `meta` goes to the trajectory only."""
        self.messages.append({"role": role, "content": content})
        self.trajectory.message(role, content, **meta)

    def add_tool_result(self, call_id: str, content: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        self.trajectory.message("tool", content, tool_call_id=call_id)

    def start(self, system: str, task: str) -> None:
        """Begin a history (or begin anew, for single-shot prompts): the limits and the accounts carry on."""
        self.messages = []
        self.add("system", system)
        self.add("user", task)
        self.first_observation = len(self.messages)

    def ask(self, model: Model, tools: list[dict[str, Any]] | None = None, **meta: Any) -> ModelResponse | None:
        """One model turn appended to the history, or None when a limit ended the instance (see meter.outcome)."""
        if (status := self.meter.exhausted()) is not None:
            self.meter.end(status)
            return None
        # exact where the model's server can count (atlas.models.base.Model.count_tokens); else the fallback
        self.window.counter = getattr(model, "count_tokens", None)
        try:
            elided = self.window.fit(self.messages, self.first_observation, tools)
            if elided:
                self.trajectory.record("context", elided=elided, estimate=self.window.estimate(self.messages, tools))
            raw = self.window.raw_estimate(self.messages, tools)
            response = model.query(self.messages, tools)
        except ContextLimitError as e:
            self.meter.end(Status.CONTEXT_LIMIT, str(e))
            return None
        self.window.calibrate(raw, response.usage)
        self.meter.charge(response)
        self._add_assistant(response, meta)
        return response

    def _add_assistant(self, response: ModelResponse, meta: dict[str, Any]) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": response.content}
        if response.tool_calls:
            message["tool_calls"] = [{"id": c.id, "type": "function",
                                      "function": {"name": c.name, "arguments": c.arguments}}
                                     for c in response.tool_calls]
        if response.extra.get("thinking"):
            message["thinking"] = response.extra["thinking"]  # Anthropic wants it handed back with tool use
        if response.extra.get("reasoning"):
            message["reasoning"] = response.extra["reasoning"]  # sent back only where the model's preset asks
        self.messages.append(message)
        if response.tool_calls:
            meta = {"tool_calls": message["tool_calls"], **meta}
        self.trajectory.message(
            "assistant", response.content, step=self.meter.outcome.steps,
            usage=response.usage.model_dump(), cost_usd=response.cost_usd, latency_s=response.latency_s,
            finish_reason=response.finish_reason, **meta, **response.extra)
