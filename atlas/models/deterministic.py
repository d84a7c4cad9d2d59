"""Backends that need no GPU and no API key: `gold`, `empty` and `scripted`.

They answer in the format of the scaffold they drive (`model.scaffold`, set by the
runner), so that the whole pipeline -- container, commands, patch extraction, grading --
runs for real with a predictable model:
- bash: a thought and one fenced bash command per turn;
- mini: the bash turns in the fence and with the submit command the scaffold names
  (`model.reply_format`: mini-swe-agent's ```bash or ```mswea_bash_command, and
  `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT ...`);
- tools: native tool calls (ModelResponse.tool_calls);
- agentless: text answers to the pipeline's prompts, one per call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from unidiff import PatchSet

from atlas.datasets import BUNDLED_TASKS, Instance
from atlas.models.base import BackendSettings, Model, ModelError, ModelResponse, ToolCall, Usage
from atlas.models.tokens import estimate_messages, estimate_text

SUBMIT = "echo ATLAS_SUBMIT"
# per scaffold: the key of its turns in a script file, and the bundled scripts' folder
SCRIPT_KEYS = {"bash": "turns", "mini": "turns", "tools": "tools_turns", "agentless": "agentless_turns"}
BUNDLED_FOLDERS = {"bash": "scripted", "mini": "scripted", "tools": "scripted_tools", "agentless": "scripted_agentless"}
NO_CHANGE = "I have no change to propose."


def turn(thought: str, command: str) -> str:
    return f"THOUGHT: {thought}\n\n```bash\n{command}\n```"


def tool_turn(content: str, calls: list[dict[str, Any]], index: int) -> ModelResponse:
    """A turn of tool calls; `arguments` may be a mapping or raw text (to script malformed JSON)."""
    tool_calls = []
    for n, call in enumerate(calls):
        arguments = call.get("arguments") or {}
        tool_calls.append(ToolCall(id=f"call_{index}_{n}", name=str(call["name"]),
                                   arguments=arguments if isinstance(arguments, str) else json.dumps(arguments)))
    return ModelResponse(content=content, tool_calls=tool_calls)


def heredoc_apply(patch: str) -> str:
    """A command that applies `patch` with git, quoting it so the shell leaves it alone."""
    marker = "ATLAS_PATCH_EOF"
    while marker in patch:
        marker += "_"
    body = patch if patch.endswith("\n") else patch + "\n"
    return f"git apply --verbose - <<'{marker}'\n{body}{marker}"


def restyle(turns: list[str], reply_format: dict[str, str]) -> list[str]:
    """Bash-scaffold turns in another one-command scaffold's style: its fence label and submit command."""
    fence, submit = reply_format.get("fence", "bash"), reply_format.get("submit", SUBMIT)
    return [re.sub(r"^(\s*)```bash\b", lambda m: f"{m[1]}```{fence}", t, flags=re.MULTILINE).replace(SUBMIT, submit)
            for t in turns]


def _block_text(lines: list[str]) -> str:
    text = "".join(lines)
    return text if not text or text.endswith("\n") else text + "\n"


def gold_agentless_answer(patch: str) -> str:
    """One answer that serves every Agentless stage: the patch's files, its changed lines, its hunks as edits.

    Each stage's parser keeps only its part (agents/agentless/answers.py), so the same
    text answers every call whatever stages and N are configured. The python block
    passes on the original code, so the pipeline runs without a reproduction script.
    """
    places, edits = [], []
    for patched in PatchSet(patch):
        if not patched.is_added_file:
            places.append(patched.path)
        for hunk in patched:
            lines = list(hunk)
            first_change = next(i for i, line in enumerate(lines) if not line.is_context)
            if not patched.is_added_file:
                places.append(f"line: {hunk.source_start + first_change}")
            search = _block_text([line.value for line in lines if line.is_context or line.is_removed])
            replace = _block_text([line.value for line in lines if line.is_context or line.is_added])
            edits.append(f"### {patched.path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE")
    places_block = "\n".join(places)
    return (f"The reference patch changes these places:\n\n```\n{places_block}\n```\n\n" + "\n\n".join(edits)
            + "\n\n```python\n# no reproduction script: this one passes, so the pipeline does not use it\n```\n")


def _text(content: str | None, tool_calls: list[Any]) -> str:
    """What a message costs: its text and its tool calls."""
    return str(content or "") + (json.dumps(tool_calls, default=lambda c: c.model_dump()) if tool_calls else "")


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return estimate_messages(messages)


class _ReplayModel(Model):
    """Plays back a fixed list of answers, one per query, with estimated usage."""

    def __init__(self, config: dict[str, Any], answers: list[ModelResponse | str] | None = None,
                 repeat_last: bool = False):
        super().__init__(config)
        self.answers = [ModelResponse(content=a) if isinstance(a, str) else a for a in answers or []]
        self.repeat_last = repeat_last  # answer every further query with the last answer
        self.position = 0

    def bound(self, answers: list[ModelResponse | str], repeat_last: bool = False) -> _ReplayModel:
        """A copy for one instance, still knowing the scaffold and GPU the runner set."""
        model = type(self)(self.config, answers, repeat_last)
        model.scaffold, model.gpu, model.reply_format = self.scaffold, self.gpu, self.reply_format
        if self.scaffold == "mini":
            model.answers = [a.model_copy(update={"content": restyle([a.content], self.reply_format)[0]})
                             for a in model.answers]
        return model

    def check_scaffold(self) -> None:
        if self.scaffold not in SCRIPT_KEYS:
            raise ModelError(f"{self.name}: no answers for scaffold {self.scaffold!r}; "
                             f"it answers {', '.join(SCRIPT_KEYS)}")

    def for_scaffold(self, bash: list[str], tools: list[ModelResponse], agentless: str) -> _ReplayModel:
        self.check_scaffold()
        if self.scaffold in ("bash", "mini"):
            return self.bound(bash)
        if self.scaffold == "tools":
            return self.bound(tools)
        return self.bound([agentless], repeat_last=True)

    def query(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> ModelResponse:
        if self.position >= len(self.answers) and not (self.repeat_last and self.answers):
            raise ModelError(f"{self.name}: script exhausted after {len(self.answers)} turns")
        answer = self.answers[min(self.position, len(self.answers) - 1)]
        self.position += 1
        usage = Usage(prompt_tokens=_prompt_tokens(messages), estimated=True,
                      completion_tokens=estimate_text(_text(answer.content, answer.tool_calls)))
        return answer.model_copy(update={"usage": usage})


def _submit_nothing(thought: str) -> tuple[list[str], list[ModelResponse], str]:
    return [turn(thought, SUBMIT)], [tool_turn(thought, [{"name": "submit"}], 0)], NO_CHANGE


class GoldModel(_ReplayModel):
    """Applies the instance's reference patch, then submits: an upper bound on the pipeline."""

    def for_instance(self, instance: Instance) -> Model:
        if not instance.patch.strip():
            raise ModelError(f"gold: instance {instance.instance_id} has no reference patch")
        apply = heredoc_apply(instance.patch)
        return self.for_scaffold(
            [turn("Apply the reference patch.", apply), turn("Submit.", SUBMIT)],
            [tool_turn("Apply the reference patch.", [{"name": "bash", "arguments": {"command": apply}}], 0),
             tool_turn("Submit.", [{"name": "submit"}], 1)],
            gold_agentless_answer(instance.patch),
        )


class EmptyModel(_ReplayModel):
    """Submits without changing anything: the floor every real model must beat."""

    def for_instance(self, instance: Instance) -> Model:
        return self.for_scaffold(*_submit_nothing("Submit without changes."))


class ScriptedSettings(BackendSettings):
    scripts_dir: str = "bundled"


class ScriptedModel(_ReplayModel):
    """Replays per-task answers from `<scripts_dir>/<instance_id>.yaml`, under the key of the scaffold.

    `turns:` (bash) is a list of assistant messages; `tools_turns:` a list of
    {content, tool_calls: [{name, arguments}]} (arguments a mapping, or text to script
    malformed JSON); `agentless_turns:` a list of answers, one per pipeline call. With
    scripts_dir 'bundled' each scaffold reads its own folder of the sample tasks
    (scripted/, scripted_tools/, scripted_agentless/). An instance with no script
    submits nothing.
    """

    settings_schema = ScriptedSettings

    def for_instance(self, instance: Instance) -> Model:
        self.check_scaffold()
        scripts_dir = Path(str(self.config.get("scripts_dir", "bundled")))
        if str(scripts_dir) == "bundled":
            scripts_dir = BUNDLED_TASKS / BUNDLED_FOLDERS[self.scaffold]
        path = scripts_dir / f"{instance.instance_id}.yaml"
        if not path.is_file():
            return self.for_scaffold(*_submit_nothing("No script for this task; submitting nothing."))
        data = yaml.safe_load(path.read_text())
        key = SCRIPT_KEYS[self.scaffold]
        turns = data.get(key) if isinstance(data, dict) else None
        if self.scaffold == "tools":
            return self.bound(_tool_turns(turns, path))
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise ModelError(f"scripted: {path} must hold '{key}:' as a list of strings")
        return self.bound(turns)


def _tool_turns(turns: Any, path: Path) -> list[ModelResponse]:
    shape = "a list of {content: text, tool_calls: [{name, arguments}]}"
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise ModelError(f"scripted: {path} must hold 'tools_turns:' as {shape}")
    replies = []
    for index, entry in enumerate(turns):
        calls = entry.get("tool_calls") or []
        if not isinstance(calls, list) or not all(isinstance(c, dict) and "name" in c for c in calls):
            raise ModelError(f"scripted: {path}: tools_turns[{index}] must be {shape}")
        replies.append(tool_turn(str(entry.get("content") or ""), calls, index))
    return replies
