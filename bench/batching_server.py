"""A stand-in for a GPU model server with continuous batching, on 127.0.0.1.

Each active request generates tokens at min(per_stream, capacity / active) tokens/s, so
throughput grows with concurrency up to `capacity`, as vLLM's does until the GPU is
saturated. Answer lengths vary around `completion_tokens` (seeded), as real answers do.
A scheduler thread advances every active request each tick and counts the tokens
generated, so a benchmark can read how busy the "GPU" was over any window.
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TICK_S = 0.005


class BatchingServer:
    def __init__(self, per_stream: float, capacity: float, answer: str, completion_tokens: int):
        self.per_stream, self.capacity = per_stream, capacity
        self.answer, self.completion_tokens = answer, completion_tokens
        self.lock = threading.Lock()
        self.active: dict[int, list] = {}  # id -> [tokens left, done event]
        self.generated: list[tuple[float, float]] = []  # (time, tokens generated in that tick)
        self.running = True
        self.rng = random.Random(0)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> "BatchingServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        threading.Thread(target=self._schedule, daemon=True).start()
        return self

    def stop(self) -> None:
        self.running = False
        self.httpd.shutdown()
        self.httpd.server_close()

    def _schedule(self) -> None:
        last = time.monotonic()
        while self.running:
            time.sleep(TICK_S)
            now = time.monotonic()
            dt, last = now - last, now
            with self.lock:
                if not self.active:
                    continue
                rate = min(self.per_stream, self.capacity / len(self.active))
                produced = 0.0
                for key, slot in list(self.active.items()):
                    step = min(slot[0], rate * dt)
                    slot[0] -= step
                    produced += step
                    if slot[0] <= 1e-9:
                        slot[1].set()
                        del self.active[key]
                self.generated.append((now, produced))

    def generate(self) -> int:
        """Block while the request's tokens are generated; return how many."""
        done = threading.Event()
        with self.lock:
            tokens = self.rng.randint(self.completion_tokens // 2, self.completion_tokens * 3 // 2)
            self.active[id(done)] = [float(tokens), done]
        done.wait()
        return tokens

    def tokens_between(self, start: float, end: float) -> float:
        with self.lock:
            return sum(n for t, n in self.generated if start <= t < end)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                tokens = server.generate()
                prompt = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4
                self._send({"id": "b", "object": "chat.completion", "created": 0, "model": "bench",
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": server.answer}}],
                            "usage": {"prompt_tokens": prompt, "completion_tokens": tokens,
                                      "total_tokens": prompt + tokens}})

        return Handler
