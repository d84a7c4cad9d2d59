"""Safe names: what an instance id, a repository and a commit id may look like, and paths built from them.

A dataset row is input nobody vetted: its `instance_id` becomes a folder of the run directory
and a container name, its `repo` picks a log parser and a git mirror, its commit ids reach
`git` inside a container. Each is checked against a strict shape at load (atlas.datasets), and
`safe_join` builds a path only from a checked name, so a row such as `../../x` can neither
escape the run directory nor reach a shell as code.
"""

from __future__ import annotations

import re
from pathlib import Path

from atlas.errors import BadInput

# one path segment and one Docker name segment: letters, digits, '_', '.', '-'; never '..'
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
REPO = re.compile(rf"({SAFE_NAME.pattern})/({SAFE_NAME.pattern})")
# a full or abbreviated commit id (SHA-1, or SHA-256 in repositories that use it)
COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")


class UnsafeName(BadInput):
    """A name that must not become a path segment or reach a shell."""


def check_name(value: str, what: str = "name") -> str:
    """`value` if it is one safe path segment (SAFE_NAME, no '..'), else UnsafeName saying what is allowed."""
    if not SAFE_NAME.fullmatch(value) or ".." in value:
        raise UnsafeName(f"{what} {value!r} is not a safe name: use letters, digits, '_', '.' and '-' "
                         "(no '/', no '..', at most 200 characters)")
    return value


def check_repo(value: str) -> str:
    """`value` if it is `owner/name`, both safe names."""
    match = REPO.fullmatch(value)
    if not match or ".." in value:
        raise UnsafeName(f"repo {value!r} is not owner/name (letters, digits, '_', '.', '-'; no '..')")
    return value


def check_commit(value: str, what: str = "commit") -> str:
    """`value` if it is a hexadecimal commit id of 7 to 64 digits."""
    if not COMMIT.fullmatch(value):
        raise UnsafeName(f"{what} {value!r} is not a commit id (7 to 64 hexadecimal digits)")
    return value


def safe_join(root: Path, name: str, what: str = "instance_id") -> Path:
    """`root / name` for a checked name; refuses anything that would leave `root`."""
    path = (root / check_name(name, what)).resolve()
    if path.parent != root.resolve():
        raise UnsafeName(f"{what} {name!r} would leave {root}")
    return path
