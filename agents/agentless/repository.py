"""What the Agentless prompts show of a repository, built from what the container reports.

Pure functions over file lists, file texts and outlines (the JSON the workspace helper's
`outline` prints: kind, qualified name, first and last line, header line), so the
pipeline's views are testable without a container.
"""

from __future__ import annotations

import posixpath
from typing import Any

from atlas.agents.agentless.answers import Location

Outline = list[dict[str, Any]]


def tree(paths: list[str]) -> str:
    """Paths as an indented folder tree: shorter than a flat list, and how Agentless shows structure."""
    lines, shown = [], set()
    for path in sorted(paths):
        parts = path.split("/")
        for depth in range(len(parts) - 1):
            folder = "/".join(parts[:depth + 1])
            if folder not in shown:
                shown.add(folder)
                lines.append("    " * depth + parts[depth] + "/")
        lines.append("    " * (len(parts) - 1) + parts[-1])
    return "\n".join(lines)


def skeleton(path: str, outline: Outline | None) -> str:
    """A file's classes and functions as `line: header`, nested by indentation."""
    if outline is None:
        body = "[could not be parsed]"
    else:
        body = "\n".join(f"{'    ' * item['name'].count('.')}{item['start']}: {item['header']}" for item in outline)
    return f"### {path}\n{body or '[no classes or functions]'}"


def resolve(location: Location, outline: Outline | None, line_count: int) -> list[Location]:
    """The location as the file knows it: a function or class by qualified or last name, a line in range."""
    if location.kind == "line":
        return [location] if 1 <= location.line <= line_count else []
    items = [i for i in outline or [] if i["kind"] == location.kind or location.kind == "function"]
    exact = [i for i in items if i["name"] == location.name]
    matches = exact or [i for i in items if i["name"].split(".")[-1] == location.name.split(".")[-1]]
    return [Location(location.path, i["kind"], name=i["name"]) for i in matches]


def spans(locations: list[Location], outline: Outline | None, line_count: int, context: int) -> list[tuple[int, int]]:
    """Merged line ranges covering the locations (a whole definition, or `context` lines around a line)."""
    if not locations:
        return [(1, line_count)]
    by_name = {i["name"]: i for i in outline or []}
    ranges = []
    for location in locations:
        if location.kind == "line":
            ranges.append((max(1, location.line - context), min(line_count, location.line + context)))
        else:
            item = by_name[location.name]
            ranges.append((item["start"], item["end"]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def excerpt(path: str, text: str, ranges: list[tuple[int, int]], numbered: bool) -> str:
    """The ranges of a file under a `### path` header, "..." where lines are left out."""
    lines = text.splitlines()
    parts = []
    for start, end in ranges:
        if start > 1 or parts:
            parts.append("...")
        chunk = lines[start - 1:end]
        parts.append("\n".join(f"{start + i:6d}\t{line}" for i, line in enumerate(chunk)) if numbered
                     else "\n".join(chunk))
    if ranges and ranges[-1][1] < len(lines):
        parts.append("...")
    return f"### {path}\n" + "\n".join(parts)


def is_test_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def test_subject(path: str) -> str:
    """The module a test file is about: tests/test_parse.py -> parse."""
    stem = posixpath.basename(path)[:-3]
    return stem.removeprefix("test_").removesuffix("_test")


def nearby_tests(edited: list[str], files: list[str]) -> list[str]:
    """Test files about an edited module, or beside an edited file; edited test files themselves."""
    stems = {posixpath.basename(p)[:-3] for p in edited}
    folders = {posixpath.dirname(p) for p in edited}
    return [f for f in files if is_test_file(f)
            and (test_subject(f) in stems or posixpath.dirname(f) in folders or f in edited)]
