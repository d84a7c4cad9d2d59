"""The tool scaffold's agent-computer interface: every tool's JSON schema, and the check of a call against it.

The definitions use the OpenAI function format, which both the OpenAI-compatible and the
Anthropic backends accept. A call that does not fit its schema (bad JSON, unknown
tool, missing or unexpected field, wrong type) becomes an error message for the model.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


PATH = {"type": "string", "description": "File path, relative to the repository root or absolute."}

TOOLS: list[dict[str, Any]] = [
    _tool("bash", "Run one shell command in the repository root (bash -lc, no network, no interactive programs). "
          "Returns its exit code and output; long outputs are cut in the middle.",
          {"command": {"type": "string", "description": "The command line."}}, ["command"]),
    _tool("view", "Show a file with line numbers, a window of lines at a time, or list a directory two levels deep.",
          {"path": PATH,
           "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (default 1)."},
           "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (default: one window on)."}},
          ["path"]),
    _tool("str_replace", "Replace old_str by new_str in a file. old_str must match the file exactly (whitespace "
          "included) and exactly once; add surrounding lines to make it unique.",
          {"path": PATH, "old_str": {"type": "string"}, "new_str": {"type": "string"}}, ["path", "old_str", "new_str"]),
    _tool("insert", "Insert text after the given line of a file (0 = at the top).",
          {"path": PATH, "line": {"type": "integer", "minimum": 0}, "text": {"type": "string"}},
          ["path", "line", "text"]),
    _tool("create", "Create a new file with the given content (the file must not exist yet).",
          {"path": PATH, "file_text": {"type": "string"}}, ["path", "file_text"]),
    _tool("undo_edit", "Undo the last str_replace, insert or create on a file.", {"path": PATH}, ["path"]),
    _tool("find_files", "Find files whose name matches a glob pattern (e.g. '*.py', 'test_*'; a pattern with '/' "
          "matches the whole path).",
          {"pattern": {"type": "string"}, "path": {"type": "string", "description": "Folder to search (default .)."}},
          ["pattern"]),
    _tool("grep", "Search file contents for a Python regular expression; prints path:line:text for each match.",
          {"pattern": {"type": "string"}, "path": {"type": "string", "description": "File or folder (default .)."},
           "include": {"type": "string", "description": "Only files whose name matches this glob, e.g. '*.py'."}},
          ["pattern"]),
    _tool("submit", "Finish: your changes are taken from the repository with git diff. Call it alone, when done.",
          {}, []),
]

SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}


class ToolArgumentError(ValueError):
    pass


def tools_sha256() -> str:
    """The interface is part of the prompt: a changed description is a different experiment."""
    return hashlib.sha256(json.dumps(TOOLS, sort_keys=True).encode()).hexdigest()


def parse_call(name: str, arguments: str) -> dict[str, Any]:
    """The call's arguments checked against its tool's schema, or ToolArgumentError saying what to fix."""
    if name not in SCHEMAS:
        raise ToolArgumentError(f"there is no tool named {name!r}; the tools are: {', '.join(SCHEMAS)}")
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as e:
        raise ToolArgumentError(f"the arguments of {name} are not valid JSON ({e}); send a JSON object") from None
    if not isinstance(args, dict):
        raise ToolArgumentError(f"the arguments of {name} must be a JSON object, not {type(args).__name__}")
    schema = SCHEMAS[name]
    missing = [key for key in schema["required"] if key not in args]
    if missing:
        raise ToolArgumentError(f"{name} needs the argument(s) {', '.join(missing)}")
    for key, value in args.items():
        spec = schema["properties"].get(key)
        if spec is None:
            raise ToolArgumentError(f"{name} has no argument {key!r}; it takes: {', '.join(schema['properties'])}")
        expected = JSON_TYPES[spec["type"]]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ToolArgumentError(f"{name}: {key} must be a JSON {spec['type']}, not {json.dumps(value)[:50]}")
        if "minimum" in spec and value < spec["minimum"]:
            raise ToolArgumentError(f"{name}: {key} must be at least {spec['minimum']}")
    return args
