"""A stand-in for the Anthropic Messages API on 127.0.0.1, good enough for the real `anthropic` SDK.

It answers POST /v1/messages without streaming. A test queues the answers (`reply`),
failures to serve first (`fail`) and a delay (`delay`), then reads back every request it
received (`requests`: JSON body and lower-cased headers).

    with FakeAnthropic() as server:
        server.reply(text="hi", input_tokens=10)
        ...  # point a client at server.url
        assert server.requests[0].body["model"] == ...
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence

# status -> the error type the real API names in its body
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
PROMPT_TOO_LONG = "prompt is too long: 250000 tokens > 200000 maximum"


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Failure:
    status: int
    message: str
    remaining: int | None  # None = every request from now on


@dataclass
class FakeAnthropic:
    requests: list[Recorded] = field(default_factory=list)
    replies: deque = field(default_factory=deque)
    failures: deque = field(default_factory=deque)
    delay: float = 0.0  # seconds to sleep before answering each request

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True  # a request still sleeping must not block shutdown

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeAnthropic":
        # A short poll interval keeps shutdown, and so each test's teardown, quick.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, text: str = "", *, thinking: Sequence[str] = (), tool_uses: Sequence[dict[str, Any]] = (),
              stop_reason: str = "end_turn", thinking_tokens: int | None = None, **usage: int) -> None:
        """Queue one answer: thinking blocks, then text, then tool_use blocks ({id, name, input}).

        `usage` sets the token counts; `thinking_tokens` adds the newer `output_tokens_details`.
        """
        content = [{"type": "thinking", "thinking": t, "signature": f"sig-{i}"} for i, t in enumerate(thinking)]
        if text:
            content.append({"type": "text", "text": text})
        content += [{"type": "tool_use", **call} for call in tool_uses]
        counts = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0, **usage}
        if thinking_tokens is not None:
            counts["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
        self.replies.append({"content": content, "stop_reason": stop_reason, "usage": counts})

    def fail(self, status: int, times: int | None = 1, message: str | None = None) -> None:
        """Answer the next `times` requests (None = all) with an API error of this status."""
        default = PROMPT_TOO_LONG if status == 400 else f"fake {ERROR_TYPES.get(status, 'error')}"
        self.failures.append(Failure(status, message or default, times))

    def _next_failure(self) -> Failure | None:
        with self._lock:
            if not self.failures:
                return None
            failure = self.failures[0]
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self.failures.popleft()
            return failure

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON body, extra headers) for one request."""
        failure = self._next_failure()
        if failure is not None:
            return _error(failure.status, failure.message)
        with self._lock:
            if not self.replies:
                return _error(500, "fake server: no reply queued")
            reply = self.replies.popleft()
            number = len(self.requests)
        message = {"id": f"msg_fake_{number}", "type": "message", "role": "assistant", "model": body["model"],
                   "stop_sequence": None, **reply}
        return 200, message, {"request-id": f"req_fake_{number}"}


def _error(status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
    headers = {"request-id": "req_fake_error"}
    if status == 429:
        headers["retry-after"] = "1"
    return status, body, headers


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/v1/messages":
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}, {})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            with fake._lock:
                fake.requests.append(Recorded(body, {k.lower(): v for k, v in self.headers.items()}))
            time.sleep(fake.delay)
            self._send(*fake._answer(body))

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing left to tell it

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler
