"""Backends that need no GPU and no API key: `gold`, `empty` and `scripted`.

They answer in the bash scaffold's format (a thought and one fenced bash command per
turn) so that the whole pipeline -- container, commands, patch extraction, grading --
runs for real with a predictable model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from atlas.datasets import BUNDLED_TASKS, Instance
from atlas.models.base import Model, ModelError, ModelResponse, Usage, estimate_tokens

SUBMIT = "echo ATLAS_SUBMIT"


def turn(thought: str, command: str) -> str:
    return f"THOUGHT: {thought}\n\n```bash\n{command}\n```"


def heredoc_apply(patch: str) -> str:
    """A command that applies `patch` with git, quoting it so the shell leaves it alone."""
    marker = "ATLAS_PATCH_EOF"
    while marker in patch:
        marker += "_"
    body = patch if patch.endswith("\n") else patch + "\n"
    return f"git apply --verbose - <<'{marker}'\n{body}{marker}"


class _ReplayModel(Model):
    """Plays back a fixed list of turns, one per query, with estimated usage."""

    turns: list[str]

    def __init__(self, config: dict[str, Any], turns: list[str] | None = None):
        super().__init__(config)
        self.turns = turns or []
        self.position = 0

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        if self.position >= len(self.turns):
            raise ModelError(f"{self.name}: script exhausted after {len(self.turns)} turns")
        content = self.turns[self.position]
        self.position += 1
        prompt = sum(estimate_tokens(m["content"]) for m in messages)
        usage = Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(content), estimated=True)
        return ModelResponse(content=content, usage=usage)


class GoldModel(_ReplayModel):
    """Applies the instance's reference patch, then submits: an upper bound on the pipeline."""

    def for_instance(self, instance: Instance) -> Model:
        if not instance.patch.strip():
            raise ModelError(f"gold: instance {instance.instance_id} has no reference patch")
        return GoldModel(
            self.config,
            [turn("Apply the reference patch.", heredoc_apply(instance.patch)), turn("Submit.", SUBMIT)],
        )


class EmptyModel(_ReplayModel):
    """Submits without changing anything: the floor every real model must beat."""

    def for_instance(self, instance: Instance) -> Model:
        return EmptyModel(self.config, [turn("Submit without changes.", SUBMIT)])


class ScriptedModel(_ReplayModel):
    """Replays per-task assistant turns from `<scripts_dir>/<instance_id>.yaml`.

    The file holds `turns: [...]`, each a full assistant message. An instance with no
    script gets a single turn that submits nothing.
    """

    def for_instance(self, instance: Instance) -> Model:
        scripts_dir = Path(str(self.config.get("scripts_dir", "bundled")))
        if str(scripts_dir) == "bundled":
            scripts_dir = BUNDLED_TASKS / "scripted"
        path = scripts_dir / f"{instance.instance_id}.yaml"
        if not path.is_file():
            return ScriptedModel(self.config, [turn("No script for this task; submitting nothing.", SUBMIT)])
        data = yaml.safe_load(path.read_text())
        turns = data.get("turns") if isinstance(data, dict) else None
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise ModelError(f"scripted: {path} must hold 'turns:' as a list of strings")
        return ScriptedModel(self.config, turns)
