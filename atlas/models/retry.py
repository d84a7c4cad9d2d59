"""Retrying transient API failures (rate limits, overload, dropped connections) with tenacity.

Each backend names which of its SDK's exceptions are transient; after `attempts` tries
the last error becomes a ModelError, which the runner counts as an infrastructure failure.
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from atlas.models.base import ModelError

T = TypeVar("T")
log = logging.getLogger(__name__)


def call_with_retries(
    call: Callable[[], T], is_transient: Callable[[BaseException], bool], attempts: int = 6,
    initial_wait: float = 1.0, max_wait: float = 60.0, what: str = "model call",
) -> T:
    """Run `call`, retrying transient errors with exponential backoff and jitter."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        # exponential from initial_wait, plus jitter of the same size so parallel workers spread out
        wait=wait_exponential(multiplier=initial_wait, max=max_wait) + wait_random(0, initial_wait),
        retry=retry_if_exception(is_transient),
        before_sleep=lambda state: log.warning("%s failed (%s); retry %d", what, state.outcome.exception(),
                                               state.attempt_number),
        reraise=False,
    )
    try:
        return retrying(call)
    except RetryError as e:
        last = e.last_attempt.exception()
        raise ModelError(f"{what} failed after {attempts} attempts: {type(last).__name__}: {last}") from last
