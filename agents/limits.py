"""The limits every scaffold shares, and the meter that enforces them and keeps the accounts.

One `Meter` per instance: it adds up steps (model calls), tokens, cost and model time
into the AgentOutcome, and says which limit -- steps, cost, the instance's wall clock,
consecutive malformed answers, the same command over and over -- ends the instance.
Every scaffold takes the same settings, so a sweep over scaffolds compares them under
identical budgets.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from atlas.agents.replies import NO_ACTION
from atlas.interfaces import AgentOutcome, Deadline
from atlas.models import ModelResponse
from atlas.records import Status


class LimitSettings(BaseModel):
    step_limit: int = Field(50, ge=1, description="Model calls per instance.")
    cost_limit: float = Field(0.0, ge=0, description="USD per instance; 0 = no limit.")
    format_error_limit: int = Field(3, ge=0, description="Consecutive malformed answers tolerated before the "
                                                          "instance ends.")
    repetition_limit: int = Field(0, ge=0, description="The same command this many times in a row ends the "
                                                       "instance as `repetition` (a loop); 0 = never.")
    command_timeout: int = Field(120, ge=1, description="Seconds per command run in the container.")


class Meter:
    """Accounts for one instance and decides when a limit ends it."""

    def __init__(self, limits: LimitSettings, deadline: Deadline):
        self.limits = limits
        self.deadline = deadline
        self.outcome = AgentOutcome(status=Status.SUBMITTED)
        self.consecutive_format_errors = 0
        self.last_command: str | None = None
        self.repeats = 0  # how many times in a row `last_command` came

    def exhausted(self) -> Status | None:
        """The limit that forbids another model call, if any."""
        if self.outcome.steps >= self.limits.step_limit:
            return Status.STEP_LIMIT
        if 0 < self.limits.cost_limit <= self.outcome.cost_usd:
            return Status.COST_LIMIT
        if self.deadline.expired():
            return Status.TIMEOUT
        return None

    def charge(self, response: ModelResponse) -> None:
        self.outcome.steps += 1
        self.outcome.usage += response.usage
        self.outcome.cost_usd += response.cost_usd
        self.outcome.model_seconds += response.latency_s

    def format_error(self, kind: str = NO_ACTION) -> bool:
        """Count a malformed answer, by kind (agents/replies.py); True when that was one too many in a row."""
        self.outcome.format_errors += 1
        kinds = self.outcome.format_error_kinds
        kinds[kind] = kinds.get(kind, 0) + 1
        self.consecutive_format_errors += 1
        return self.consecutive_format_errors > self.limits.format_error_limit

    def act(self, command: str) -> Status | None:
        """Count a well-formed action (it ends a run of malformed ones); REPETITION when it closes a loop.

        A model stuck in a loop sends the same command again and again, each time seeing the same
        output: `repetition_limit` identical commands in a row end the instance early, before they
        burn the rest of its steps and time.
        """
        self.consecutive_format_errors = 0
        self.repeats = self.repeats + 1 if command == self.last_command else 1
        self.last_command = command
        if 0 < self.limits.repetition_limit <= self.repeats:
            return Status.REPETITION
        return None

    def command_timeout(self) -> int:
        """Whole seconds a command may run: `command_timeout`, cut to what is left of the instance's time.

        Rounded up, so a command cut by the deadline ends after it and the next check stops the instance.
        """
        return max(1, min(self.limits.command_timeout, math.ceil(self.deadline.remaining())))

    def end(self, status: Status, message: str = "") -> AgentOutcome:
        self.outcome.status, self.outcome.message = status, message
        return self.outcome
