"""File operations run INSIDE the task container: view, edit with undo, search, outline.

This file is not imported by ATLAS: agents/workspace.py copies it into the container
once and runs it with the container's python3 (standard library only, Python 3.6+),
one request per call: a base64-encoded JSON object {"op": ..., "args": {...}} on stdin.
It prints the result; exit status 0 is success, 1 an error the model should read
(a missing file, text that does not match), never a traceback.
"""

import base64
import fnmatch
import hashlib
import json
import os
import re
import sys

UNDO_DIR = "/tmp/.atlas_undo"
SKIP_DIRS = {".git", "__pycache__", "node_modules", ".tox", ".venv", ".mypy_cache", ".pytest_cache"}
SNIPPET_CONTEXT = 4
MAX_FIND = 200
MAX_GREP = 100
MAX_GREP_FILE_BYTES = 2000000


class ToolError(Exception):
    pass


def read_text(path):
    if not os.path.exists(path):
        raise ToolError(f"{path} does not exist; check the path with find_files, or use create for a new file")
    if os.path.isdir(path):
        raise ToolError(f"{path} is a directory, not a file")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not a UTF-8 text file") from None


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def numbered(lines, start):
    # .format: a backslash inside an f-string's braces needs Python 3.12
    return "\n".join("{:6d}\t{}".format(start + i, line.rstrip("\r\n")) for i, line in enumerate(lines))


def snippet(text, first, last):
    """Lines first..last (1-based) of text with a few around them, numbered: what an edit did."""
    lines = text.splitlines(True)
    lo = max(1, first - SNIPPET_CONTEXT)
    hi = min(len(lines), last + SNIPPET_CONTEXT)
    return numbered(lines[lo - 1:hi], lo)


def undo_stack(path):
    key = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()
    folder = os.path.join(UNDO_DIR, key)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return folder


def remember(path):
    """Push the file's current state (or its absence) so undo_edit can restore it."""
    folder = undo_stack(path)
    depth = len(os.listdir(folder))
    state = {"existed": os.path.exists(path), "content": read_text(path) if os.path.exists(path) else ""}
    with open(os.path.join(folder, f"{depth:06d}.json"), "w") as f:
        json.dump(state, f)


def view(path, start_line=None, end_line=None, window=100):
    if os.path.isdir(path):
        return listing(path)
    lines = read_text(path).splitlines(True)
    total = len(lines)
    start = max(1, start_line or 1)
    end = min(total, end_line if end_line else start + window - 1)
    if total and start > total:
        raise ToolError(f"start_line {start} is past the end of {path} ({total} lines)")
    if end < start and total:
        raise ToolError(f"end_line {end} is before start_line {start}")
    body = numbered(lines[start - 1:end], start)
    if start > 1 or end < total:
        body += f"\n[lines {start}-{end} of {total}; pass start_line/end_line to see others]"
    return body or f"[{path} is empty]"


def listing(path):
    """Files and folders two levels deep, hidden ones left out."""
    out = []
    for root, dirs, files in os.walk(path):
        rel = os.path.relpath(root, path)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        out += [os.path.normpath(os.path.join(rel, d)) + "/" for d in dirs]
        out += [os.path.normpath(os.path.join(rel, f)) for f in files if not f.startswith(".")]
        if rel != ".":
            dirs[:] = []
    return "\n".join(sorted(out)) or f"[{path} is empty]"


def str_replace(path, old_str, new_str):
    text = read_text(path)
    if not old_str:
        raise ToolError("old_str is empty; use insert to add text at a line")
    count = text.count(old_str)
    if count == 0:
        raise ToolError(f"old_str was not found in {path}; view the file and copy the text exactly, "
                        "whitespace and indentation included")
    if count > 1:
        starts = [m.start() for m in re.finditer(re.escape(old_str), text)]
        lines = ", ".join(str(text.count("\n", 0, s) + 1) for s in starts)
        raise ToolError(f"old_str occurs {count} times in {path} (lines {lines}); include more surrounding lines "
                        "so that it matches exactly once")
    remember(path)
    position = text.index(old_str)
    updated = text[:position] + new_str + text[position + len(old_str):]
    write_text(path, updated)
    first = text.count("\n", 0, position) + 1
    last = first + new_str.count("\n")
    return f"Edited {path}:\n{snippet(updated, first, last)}"


def insert(path, line, text):
    lines = read_text(path).splitlines(True)
    if not 0 <= line <= len(lines):
        raise ToolError(f"line must be between 0 (top of the file) and {len(lines)} (its end)")
    if lines and not lines[-1].endswith("\n") and line == len(lines):
        lines[-1] += "\n"
    added = text if text.endswith("\n") else text + "\n"
    remember(path)
    updated = "".join(lines[:line]) + added + "".join(lines[line:])
    write_text(path, updated)
    last = line + added.count("\n")
    return f"Inserted after line {line} of {path}:\n{snippet(updated, line + 1, last)}"


def create(path, file_text):
    if os.path.exists(path):
        raise ToolError(f"{path} already exists; change it with str_replace or insert")
    remember(path)
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent)
    write_text(path, file_text)
    return f"Created {path} ({len(file_text.splitlines())} lines)"


def undo_edit(path):
    folder = undo_stack(path)
    entries = sorted(os.listdir(folder))
    if not entries:
        raise ToolError(f"there is no edit of {path} to undo")
    last = os.path.join(folder, entries[-1])
    with open(last) as f:
        state = json.load(f)
    os.remove(last)
    if not state["existed"]:
        os.remove(path)
        return f"Undid the creation of {path} (removed it)"
    write_text(path, state["content"])
    return f"Restored {path} to its state before the last edit"


def more_note(left_out, advice):
    return f"\n[{left_out} more not shown; {advice}]" if left_out > 0 else ""


def walk_files(path):
    if os.path.isfile(path):
        yield path
        return
    if not os.path.isdir(path):
        raise ToolError(f"{path} does not exist")
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            yield os.path.normpath(os.path.join(root, name))


def find_files(pattern, path="."):
    found = [f for f in walk_files(path)
             if fnmatch.fnmatch(f if "/" in pattern else os.path.basename(f), pattern)]
    if not found:
        return f"No files match {pattern} under {path}"
    return "\n".join(found[:MAX_FIND]) + more_note(len(found) - MAX_FIND, "narrow the pattern or the path")


def grep(pattern, path=".", include=None):
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ToolError(f"pattern is not a valid Python regular expression: {e}") from None
    hits = []
    for name in walk_files(path):
        if include and not fnmatch.fnmatch(os.path.basename(name), include):
            continue
        if os.path.getsize(name) > MAX_GREP_FILE_BYTES:
            continue
        try:
            with open(name, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if regex.search(line):
                        hits.append(f"{name}:{number}:{line.rstrip()[:200]}")
        except (UnicodeDecodeError, OSError):
            continue  # binary or unreadable files are not searched
    if not hits:
        return f"No matches for {pattern} under {path}"
    return "\n".join(hits[:MAX_GREP]) + more_note(len(hits) - MAX_GREP, "narrow the pattern, path or include")


def outline(path):
    """Classes and functions of a Python file: kind, qualified name, first and last line, header line."""
    import ast

    text = read_text(path)
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise ToolError(f"{path} does not parse: {e}") from None
    lines = text.splitlines()
    items = []

    def visit(node, prefix, end_of_parent):
        children = [c for c in ast.iter_child_nodes(node)
                    if isinstance(c, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        for index, child in enumerate(children):
            start = min([child.lineno] + [d.lineno for d in child.decorator_list])
            following = children[index + 1].lineno - 1 if index + 1 < len(children) else end_of_parent
            end = getattr(child, "end_lineno", None) or following
            kind = "class" if isinstance(child, ast.ClassDef) else "function"
            items.append({"kind": kind, "name": prefix + child.name, "start": start, "end": end,
                          "header": lines[child.lineno - 1].strip()})
            visit(child, prefix + child.name + ".", end)

    visit(tree, "", len(lines))
    return json.dumps(items)


def compiles(paths):
    """Which of these Python files have syntax errors (checked without writing bytecode)."""
    errors = []
    for path in paths:
        try:
            compile(read_text(path), path, "exec")
        except SyntaxError as e:
            errors.append(f"{path}:{e.lineno}: {e.msg}")
    if errors:
        raise ToolError("\n".join(errors))
    return "ok"


OPS = {"view": view, "str_replace": str_replace, "insert": insert, "create": create, "undo_edit": undo_edit,
       "find_files": find_files, "grep": grep, "outline": outline, "compiles": compiles}


def main():
    request = json.loads(base64.b64decode(sys.stdin.read()).decode("utf-8"))
    try:
        print(OPS[request["op"]](**request["args"]))
    except (ToolError, OSError) as e:
        print(f"Error: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
