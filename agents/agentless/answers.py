"""Reading the Agentless pipeline's model answers, and the vote over candidate patches.

Every parser takes free text and keeps only what it recognizes, so one answer may hold
several parts (the gold model relies on this: see atlas/models/deterministic.py):
- files: lines that are exactly a repository path (bullets and backticks ignored);
- locations: a path line followed by `class: Name`, `function: Name` / `Class.method`,
  or `line: N` lines;
- edits: `### path` then `<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE` blocks
  (an empty SEARCH creates a new file);
- reproduction: the last ```python (or ```py) block that is not an edit.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

LOCATION_RE = re.compile(r"^(class|function|method|line)\s*:\s*(\S+)", re.IGNORECASE)
EDIT_RE = re.compile(r"^###\s*(\S+)[ \t]*\n(?:```[^\n]*\n)?<<<<<<< SEARCH\n(.*?)^=======\n(.*?)^>>>>>>> REPLACE",
                     re.MULTILINE | re.DOTALL)
PYTHON_BLOCK_RE = re.compile(r"```(?:python|py\b)[^\n]*\n(.*?)```", re.DOTALL)  # python, python3, py


@dataclass(frozen=True)
class Location:
    path: str
    kind: str  # class | function | line
    name: str = ""  # qualified name for class and function
    line: int = 0  # for kind == "line"


@dataclass(frozen=True)
class Edit:
    path: str
    search: str  # "" = create the file
    replace: str


BULLET_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _clean(line: str) -> str:
    """A line without list bullets, numbering, backticks or quotes."""
    return BULLET_RE.sub("", line).strip().strip("`'\"").removeprefix("./")


def parse_files(text: str, known: list[str], limit: int) -> list[str]:
    """Repository files named in the answer, in order of mention, at most `limit`."""
    known_set, found = set(known), []
    for line in text.splitlines():
        path = _clean(line)
        if path in known_set and path not in found:
            found.append(path)
    return found[:limit]


def parse_locations(text: str, files: list[str]) -> list[Location]:
    """Locations under each mentioned file; `method:` is read as `function:`."""
    current, found = None, []
    for line in text.splitlines():
        cleaned = _clean(line)
        if cleaned in files:
            current = cleaned
            continue
        match = LOCATION_RE.match(cleaned)
        if match and current:
            kind, value = match.group(1).lower(), match.group(2).rstrip(",.:;()")
            if kind == "line":
                if value.isdigit():
                    found.append(Location(current, "line", line=int(value)))
            else:
                found.append(Location(current, "class" if kind == "class" else "function", name=value))
    return list(dict.fromkeys(found))


def _one_newline_off(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def parse_edits(text: str) -> list[Edit]:
    return [Edit(_clean(path), _one_newline_off(search), _one_newline_off(replace))
            for path, search, replace in EDIT_RE.findall(text)]


def parse_script(text: str) -> str | None:
    scripts = [block for block in PYTHON_BLOCK_RE.findall(text) if "<<<<<<< SEARCH" not in block]
    return scripts[-1] if scripts and scripts[-1].strip() else None


def normalize(diff: str) -> str:
    """Diff text with whitespace runs collapsed and index/hunk numbers dropped: equal fixes compare equal."""
    lines = []
    for line in diff.splitlines():
        if line.startswith("index "):
            continue
        if line.startswith("@@"):
            line = "@@"
        body = " ".join(line[1:].split())
        if line[:1] in "+-" and not body and not line.startswith(("+++", "---")):
            continue  # blank lines added or removed
        lines.append(line[:1] + body)
    return "\n".join(lines)


def vote(diffs: list[str]) -> int:
    """Index of the majority patch by normalized text; ties go to the earliest sample."""
    counts = Counter(normalize(d) for d in diffs)
    return max(range(len(diffs)), key=lambda i: (counts[normalize(diffs[i])], -i))
