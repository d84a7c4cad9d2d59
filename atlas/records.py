"""Validated records a run writes: instance statuses, predictions, and the status vocabulary."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel

from atlas.models.base import Usage


class Status(str, Enum):
    """How an instance ended: exactly one of these. Agent outcomes first, infrastructure failures last.

    submitted; the limits that end an agent early -- step_limit, format_error_limit (N
    malformed turns in a row), context_limit, cost_limit (the budget), timeout (the wall
    clock), repetition (the same command N times in a row); then model_error, env_error
    and error (ATLAS itself), which are retried and reported apart.
    """

    SUBMITTED = "submitted"
    STEP_LIMIT = "step_limit"
    FORMAT_ERROR_LIMIT = "format_error_limit"
    CONTEXT_LIMIT = "context_limit"
    COST_LIMIT = "cost_limit"
    TIMEOUT = "timeout"
    REPETITION = "repetition"  # the same command `agent.repetition_limit` times in a row: a loop, stopped early
    IMAGE_MISSING = "image_missing"  # the instance's image is absent and could not be pulled or built
    ENV_ERROR = "env_error"
    MODEL_ERROR = "model_error"
    ERROR = "error"  # an unexpected failure inside ATLAS itself; not retried

    @property
    def is_infra_error(self) -> bool:
        """Failures of the machinery rather than the agent: retried, and reported apart."""
        return self in (Status.IMAGE_MISSING, Status.ENV_ERROR, Status.MODEL_ERROR, Status.ERROR)


class InstanceResult(BaseModel):
    """The final record of one instance, written once as status.json when it finishes."""

    instance_id: str
    status: Status
    attempts: int
    steps: int = 0
    format_errors: int = 0
    format_error_kinds: dict[str, int] = {}  # by kind: no_action, multiple_actions, wrong_fence_language, ...
    usage: Usage = Usage()
    cost_usd: float = 0.0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    patch_lines: int = 0
    prefix_reuse: float | None = None  # share of prompts after the first that repeated the previous prompt's start
    submitted_patch: bool = False
    error: str = ""
    image: str = ""
    image_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    attempt_errors: list[str] = []
    best_of: dict[str, Any] | None = None  # run.best_of.k > 1: attempts, selected candidate, why attempts stopped, spend


class Prediction(BaseModel):
    """One line of preds.jsonl, in the official harness's format."""

    instance_id: str
    model_name_or_path: str
    model_patch: str
