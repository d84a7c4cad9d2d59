"""The token budget of each request, and what to do when the history outgrows it.

Size: the model's exact count when it has one (`Model.count_tokens`: vLLM's /tokenize, the
same count its backend checks the context window with), else ATLAS's one fallback estimate
(atlas.models.tokens: four characters a token) rescaled by the ratio the server reported the
last time it counted the prompt (`usage.prompt_tokens`), so a backend that reports usage
corrects the estimate and one that does not (scripted, estimated usage) leaves it as is.

Policies when a request would exceed `context_budget`:
- `stop`: the instance ends with status context_limit.
- `elide`: the content of the oldest observations (tool and user messages after the task
  statement, never those answering the latest turn) is replaced by a short marker until the request is
  down to `elide_target` of the budget. Eliding in one large block, rather than one
  message per turn, is deliberate: servers cache the KV of a prompt prefix (vLLM's
  prefix caching, Anthropic's cache breakpoints), and every elision rewrites the prefix
  from the first elided message on. Cutting well below the budget means the prefix then
  stays byte-identical for many turns, each of which reuses the cache, instead of being
  invalidated on every turn by a sliding window.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from atlas.models import ContextLimitError, Usage
from atlas.models.tokens import estimate_messages

ELIDED = "[output elided]"


class ContextSettings(BaseModel):
    context_budget: int | None = Field(None, gt=0, description="Prompt tokens a request may hold; null = no budget.")
    context_policy: Literal["stop", "elide"] = "stop"
    elide_target: float = Field(0.6, gt=0, lt=1, description="Fraction of the budget to elide down to, at once.")


class ContextWindow:
    """Checks each request against the budget and applies the policy (in place) when it does not fit."""

    def __init__(self, settings: ContextSettings,
                 counter: Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], tuple[int, bool]] | None = None):
        self.settings = settings
        self.counter = counter  # the model's count_tokens: (tokens, exact)
        self.scale = 1.0  # reported / estimated prompt tokens, from the last call that reported usage

    def raw_estimate(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
        return estimate_messages(messages, tools)

    def estimate(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
        if self.counter is not None:
            tokens, exact = self.counter(messages, tools)
            if exact:
                return tokens
        return round(self.raw_estimate(messages, tools) * self.scale)

    def calibrate(self, raw_estimate: int, usage: Usage) -> None:
        """Learn the tokenizer's ratio from a server's count of the prompt we just estimated."""
        if not usage.estimated and usage.prompt_tokens > 0 and raw_estimate > 0:
            self.scale = usage.prompt_tokens / raw_estimate

    def fit(self, messages: list[dict[str, Any]], first_observation: int,
            tools: list[dict[str, Any]] | None = None) -> list[int]:
        """Make the request fit the budget; return the indices it elided, or raise ContextLimitError."""
        budget = self.settings.context_budget
        if budget is None or self.estimate(messages, tools) <= budget:
            return []
        elided: list[int] = []
        if self.settings.context_policy == "elide":
            target = budget * self.settings.elide_target
            for index in self._elidable(messages, first_observation):
                messages[index]["content"] = ELIDED
                elided.append(index)
                if self.estimate(messages, tools) <= target:
                    break
        tokens = self.estimate(messages, tools)
        if tokens > budget:
            raise ContextLimitError(f"the request is about {tokens} tokens, over agent.context_budget={budget} "
                                    f"(policy {self.settings.context_policy}, {len(elided)} observations elided)")
        return elided

    @staticmethod
    def _elidable(messages: list[dict[str, Any]], first_observation: int) -> list[int]:
        """Observations oldest first, up to the last assistant turn: the model must see what its last action did."""
        last_turn = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=0)
        return [i for i in range(first_observation, last_turn)
                if messages[i]["role"] in ("user", "tool") and messages[i].get("content") != ELIDED]
