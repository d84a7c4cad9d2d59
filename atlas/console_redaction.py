"""The console passes through the one redaction: nothing ATLAS, a library, a logger or a traceback prints shows a secret.

`redact_console()` replaces `sys.stdout` and `sys.stderr` with streams that mask each line through
`atlas.redaction.redact_text` (learned values, URL credentials, secret flags and pairs) before it
reaches the terminal. Text is held back only until its line ends or the stream is flushed, so a
secret split over two `write` calls of one line is still masked. rich's consoles, `print`, logging's
last-resort handler and Python's own traceback printing all look up `sys.stderr` / `sys.stdout` when
they write, so all of them go through it.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from atlas.redaction import redact_text


class RedactingStream:
    """A text stream that writes whole lines, masked, to the stream it wraps."""

    def __init__(self, stream: TextIO):
        self.wrapped = stream
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            end = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if end >= 0:
                ready, self._pending = self._pending[:end + 1], self._pending[end + 1:]
                self.wrapped.write(redact_text(ready))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.wrapped.write(redact_text(self._pending))
                self._pending = ""
        self.wrapped.flush()

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ...: the wrapped stream's
        return getattr(self.wrapped, name)


def redact_console() -> None:
    """From now on, for the rest of the process, mask what is written to stdout and stderr (idempotent)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
