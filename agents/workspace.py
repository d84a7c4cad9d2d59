"""The container seen as a repository: file operations, full outputs, resets, applying patches.

File operations (view, edit with undo, search, outline) run as requests to
workspace_helper.py, copied into the container's /tmp once, so nothing but python3,
coreutils and git is assumed there and nothing lands in the repository. Requests travel
base64-encoded on stdin: no quoting of the model's text can go wrong.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from atlas.environments import EnvError
from atlas.interfaces import Environment, ExecResult
from atlas.models.deterministic import heredoc_apply

HELPER_SOURCE = Path(__file__).with_name("workspace_helper.py")
HELPER_PATH = "/tmp/.atlas_workspace_helper.py"
REQUEST_EOF = "ATLAS_REQUEST_EOF"  # cannot occur in base64 text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Workspace:
    def __init__(self, env: Environment):
        self.env = env
        self._installed = False

    def helper_command(self, op: str, args: dict[str, Any]) -> str:
        request = _b64(json.dumps({"op": op, "args": args}).encode())
        return f"python3 {HELPER_PATH} <<'{REQUEST_EOF}'\n{request}\n{REQUEST_EOF}"

    def call(self, op: str, args: dict[str, Any], timeout: float) -> ExecResult:
        """One helper request; exit code 1 carries an error message meant for the model."""
        self.install(timeout)
        return self.env.execute(self.helper_command(op, args), timeout=timeout)

    def install(self, timeout: float) -> None:
        """Copy the helper into the container, once."""
        if self._installed:
            return
        source = _b64(HELPER_SOURCE.read_bytes())
        done = self.env.execute(f"echo {source} | base64 -d > {HELPER_PATH}", timeout=timeout)
        if done.exit_code != 0:
            raise EnvError(f"could not copy the workspace helper into the container: {done.output[-500:]}")
        self._installed = True

    def capture(self, command: str, timeout: float) -> tuple[str, int]:
        """(full output, exit code) of `command`, read back in base64 pages below the env's output cap."""
        path = f"/tmp/.atlas_capture_{uuid.uuid4().hex[:8]}"
        # the newline before `)` lets `command` end with a heredoc
        head = self.env.execute(f"( {command}\n) > {path} 2>&1; echo \"$? $(wc -c < {path})\"", timeout=timeout)
        try:
            exit_code, size = (int(n) for n in head.output.split()[-2:])
        except ValueError:
            raise EnvError(f"could not run `{command}` in the container: {head.output[-500:]}") from None
        page = self.env.config.max_output_chars * 3 // 4 - 64  # base64 turns 3 bytes into 4 characters
        data = b""
        for offset in range(0, size, page):
            chunk = self.env.execute(f"tail -c +{offset + 1} {path} | head -c {page} | base64 -w0", timeout=timeout)
            data += base64.b64decode(chunk.output.strip())
        self.env.execute(f"rm -f {path}", timeout=timeout)
        return data.decode("utf-8", errors="replace"), exit_code

    def reset(self, timeout: float) -> None:
        """Back to the base commit's files; ignored files (build outputs the tests need) stay."""
        done = self.env.execute("git reset -q --hard HEAD && git clean -fdq", timeout=timeout)
        if done.exit_code != 0:
            raise EnvError(f"could not reset the repository: {done.output[-500:]}")

    def apply(self, patch: str, timeout: float) -> ExecResult:
        return self.env.execute(heredoc_apply(patch), timeout=timeout)
