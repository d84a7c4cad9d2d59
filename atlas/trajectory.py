"""Append-only trajectory files: one JSON object a line, flushed as each message happens.

Appending keeps each step O(1) however long the trajectory grows, and a killed process
leaves every completed line readable.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from atlas.redaction import redact_text


class Trajectory:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8")

    def record(self, kind: str, **data: Any) -> None:
        line = {"kind": kind, "time": round(time.time(), 3), **data}
        self._file.write(redact_text(json.dumps(line, ensure_ascii=False, default=str)) + "\n")
        self._file.flush()

    def message(self, role: str, content: str, **meta: Any) -> None:
        self.record("message", role=role, content=content, **meta)

    def close(self) -> None:
        self._file.close()

