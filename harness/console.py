"""The terminal of `atlas report` and `atlas compare`: its width, and warnings printed literally."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def make_console() -> Console:
    """The terminal's width; at least 160 columns when output is piped, so tables are not wrapped into a file."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 160))


def print_warnings(console: Console, warnings: list[str], style: str = "yellow") -> None:
    """`warning: <text>` per warning; the text verbatim (paths, labels and ids are never read as markup)."""
    for warning in warnings:
        console.print(Text.assemble(("warning:", style), " ", warning), highlight=False, soft_wrap=True)
