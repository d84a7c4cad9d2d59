"""The bash scaffold's reading of a reply: the one shell command it carries, or a named format error.

The prompt asks for exactly one ```bash block. A reply is also taken when its single
command is unambiguous in another form real models use:
- a fence tagged `sh`, `shell`, `zsh`, or `console` whose lines are all `$ command`;
- one tool call of a shell tool written in the text (JSON, `<tool_call>`, or the
  `<function=...>` XML form; agents/replies.py), e.g. `{"name": "bash", "arguments": {"command": "ls"}}`.
Everything else is a `ReplyFormatError` whose kind says what was wrong: no action, more
than one, a fence in another language (```python), a tool call of a tool this scaffold
does not have, an empty block, or the prompt's own placeholder command copied as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from atlas.agents.replies import (EMPTY_ACTION, MULTIPLE_ACTIONS, NO_ACTION, PLACEHOLDER_COPIED, TOOL_CALL_IN_CONTENT,
                                  WRONG_FENCE_LANGUAGE, Block, ReplyFormatError, content_tool_calls, fenced_blocks)

FENCE = "bash"
SHELL_FENCES = {"bash", "sh", "shell", "zsh", "console"}
# the names models give a shell tool (OpenAI-style `bash`, OpenHands' `execute_bash`, others seen in chat templates)
SHELL_TOOLS = {"bash", "execute_bash", "run_bash", "shell", "run_shell", "run_command", "execute_command", "terminal"}


@dataclass(frozen=True)
class ShellAction:
    command: str
    form: str  # "fence:bash" as asked; else how it was written (fence:sh, tool_call, function_xml, json)


def _console_command(body: str) -> str | None:
    """The command of a ```console block whose every line is a `$ ` prompt line, else None (it shows output)."""
    lines = [line for line in body.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("$ ") for line in lines):
        return "\n".join(line.lstrip()[2:] for line in lines)
    return None


def _shell_blocks(blocks: list[Block]) -> list[Block]:
    shell = []
    for block in blocks:
        if block.language == "console":
            if (command := _console_command(block.body)) is not None:
                shell.append(Block("console", command))
        elif block.language in SHELL_FENCES:
            shell.append(block)
    return shell


def _command_of(call_arguments: dict) -> str | None:
    value = call_arguments.get("command", call_arguments.get("cmd"))
    return value if isinstance(value, str) else None


def _found(text: str) -> ShellAction:
    blocks = fenced_blocks(text)
    shell = _shell_blocks(blocks)
    if len(shell) == 1:
        return ShellAction(shell[0].body.strip(), f"fence:{shell[0].language}")
    if len(shell) > 1:
        raise ReplyFormatError(MULTIPLE_ACTIONS, f"found {len(shell)} ```{FENCE} blocks, expected exactly one; "
                                                 "put one command in one block (chain steps with &&)")
    calls = content_tool_calls(text)
    shell_calls = [c for c in calls if c.name in SHELL_TOOLS and _command_of(c.arguments) is not None]
    if len(calls) == 1 and len(shell_calls) == 1:
        return ShellAction(str(_command_of(shell_calls[0].arguments)).strip(), shell_calls[0].form)
    if len(shell_calls) > 1:
        raise ReplyFormatError(MULTIPLE_ACTIONS, f"found {len(shell_calls)} tool calls, expected exactly one command "
                                                 f"in one ```{FENCE} block")
    if calls:
        names = ", ".join(sorted({c.name for c in calls}))
        raise ReplyFormatError(TOOL_CALL_IN_CONTENT, f"found a call of the tool(s) {names}, but there are no tools "
                                                     f"here: write one shell command in a ```{FENCE} block")
    others = sorted({b.language or "untagged" for b in blocks})
    if others:
        raise ReplyFormatError(WRONG_FENCE_LANGUAGE, f"found 0 ```{FENCE} blocks (only {', '.join(others)} blocks), "
                                                     f"expected exactly one; put the shell command in a ```{FENCE} "
                                                     "block (run Python with python3 -c or a heredoc)")
    raise ReplyFormatError(NO_ACTION, f"found 0 ```{FENCE} blocks, expected exactly one")


def parse_action(text: str, placeholders: frozenset[str] = frozenset()) -> ShellAction:
    """The single shell command of a reply, or ReplyFormatError naming the kind of problem and the fix.

    `placeholders` are the example commands the prompts show (e.g. `your_command_here`): a
    reply that copies one is refused with a message saying to replace it.
    """
    action = _found(text)
    if not action.command:
        raise ReplyFormatError(EMPTY_ACTION, f"the ```{FENCE} block is empty")
    if action.command in placeholders:
        raise ReplyFormatError(PLACEHOLDER_COPIED, f"`{action.command}` is the placeholder from the example, not a "
                                                   "command; replace it with a real shell command for the task")
    return action


def example_commands(*prompts: str) -> frozenset[str]:
    """The commands shown in the prompts' own shell blocks: placeholders a reply must not copy."""
    return frozenset(b.body.strip() for text in prompts for b in _shell_blocks(fenced_blocks(text)) if b.body.strip())
