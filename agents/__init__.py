"""Agent scaffolds. Each turns (model, environment, instance) into an outcome; `make_agent` picks one by name."""

from __future__ import annotations

from typing import Any

from agents.base import AgentOutcome, Scaffold
from atlas.config import ConfigError
from agents.bash.agent import BashAgent

SCAFFOLDS: dict[str, type[Scaffold]] = {"bash": BashAgent}


def make_agent(config: dict[str, Any]) -> Scaffold:
    name = config.get("name")
    if name not in SCAFFOLDS:
        raise ConfigError(f"agent.name {name!r} is unknown; choose one of: {', '.join(sorted(SCAFFOLDS))}")
    return SCAFFOLDS[name](config)


__all__ = ["AgentOutcome", "SCAFFOLDS", "Scaffold", "make_agent"]
