"""Running an action in the container and recording it, the same way for every scaffold.

Long outputs are already cut by the environment (head and tail kept, the middle
elided, `env.max_output_chars`), so every scaffold shows the model the same view; a
scaffold's observation template adds the exit code and the timeout notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atlas.agents.limits import Meter
from atlas.interfaces import Environment, ExecResult
from atlas.trajectory import Trajectory


@dataclass
class Action:
    result: ExecResult
    timeout: int  # the seconds the command was allowed, for the model's timeout notice


def run_action(env: Environment, meter: Meter, command: str) -> Action:
    timeout = meter.command_timeout()
    return Action(env.execute(command, timeout=timeout), timeout)


def record_action(trajectory: Trajectory, step: int, result: ExecResult, command: str, **what: Any) -> None:
    """One `action` line: what ran (`command`, plus e.g. `tool` and `arguments`), its output and exit code."""
    trajectory.record("action", step=step, command=command, **what, exit_code=result.exit_code,
                      timed_out=result.timed_out, truncated=result.truncated,
                      duration_s=round(result.duration_s, 3), output=result.output)
