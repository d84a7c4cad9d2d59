"""Agent scaffolds. Each turns (model, environment, instance) into an outcome; `make_agent` picks one by name.

bash: one fenced shell command per turn; tools: native tool calls (view, edit, search,
bash, submit); agentless: a fixed localize -> repair -> validate -> vote pipeline; mini:
the bash-only leaderboard's protocol, from the installed mini-swe-agent package. They
share limits, context policy, accounting and patch extraction, so `agent=` is the only
difference between the members of a sweep.
"""

from __future__ import annotations

from typing import Any

from atlas.agents.agentless.agent import AgentlessAgent
from atlas.agents.base import Scaffold
from atlas.agents.bash.agent import BashAgent
from atlas.agents.mini.agent import MiniAgent
from atlas.agents.tools.agent import ToolsAgent
from atlas.config import ConfigError, did_you_mean
from atlas.interfaces import AgentOutcome

SCAFFOLDS: dict[str, type[Scaffold]] = {"bash": BashAgent, "tools": ToolsAgent, "agentless": AgentlessAgent,
                                      "mini": MiniAgent}


def make_agent(config: dict[str, Any]) -> Scaffold:
    name = config.get("name")
    if name not in SCAFFOLDS:
        raise ConfigError(f"agent.name {name!r} is unknown{did_you_mean(str(name), SCAFFOLDS)}; "
                          f"choose one of: {', '.join(sorted(SCAFFOLDS))}")
    return SCAFFOLDS[name](config)


__all__ = ["AgentOutcome", "SCAFFOLDS", "Scaffold", "make_agent"]
