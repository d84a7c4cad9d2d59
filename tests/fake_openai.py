"""A local stand-in for an OpenAI-compatible server (vLLM, llama.cpp, SGLang): the wire format, not a model.

It serves GET /v1/models, POST /v1/chat/completions (JSON or server-sent-event streams,
text or tool calls, usage with cached-token details) and vLLM's POST /tokenize. Answers
come from a queue the test fills; `fail_next` makes the next requests fail the way real
servers do (429, 500, a context-length 400), and `delay_s` slows every answer down.
Run as a script it is also the stand-in for `vllm serve` (see `main`).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTEXT_ERROR = ("This model's maximum context length is {limit} tokens. However, you requested {asked} tokens "
                 "in the messages, Please reduce the length of the messages.")


def count_tokens(messages: list[dict]) -> int:
    """The stand-in's 'tokenizer': four characters a token, as the tests compute by hand."""
    return sum(len(str(m.get("content") or "")) for m in messages) // 4


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-coder", port: int = 0, max_model_len: int = 32768):
        self.model = model
        self.max_model_len = max_model_len
        self.answers: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.failures: deque[int] = deque()
        self.delay_s = 0.0
        self.cached_tokens = 0
        self.die_after: int | None = None  # completions served before the server "crashes"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> "FakeOpenAIServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def completions(self) -> int:
        return sum(r["path"].endswith("/chat/completions") for r in self.requests)

    def answer(self, content: str = "", tool_calls: list[dict] | None = None, completion_tokens: int = 7) -> None:
        self.answers.append({"content": content, "tool_calls": tool_calls or [], "completion_tokens": completion_tokens})

    def fail_next(self, status: int, times: int = 1) -> None:
        self.failures.extend([status] * times)

    def _completion(self, body: dict) -> tuple[int, dict]:
        prompt = count_tokens(body["messages"])
        if prompt + (body.get("max_tokens") or 0) > self.max_model_len:
            message = CONTEXT_ERROR.format(limit=self.max_model_len, asked=prompt + body.get("max_tokens", 0))
            return 400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
        answer = self.answers.popleft() if self.answers else {"content": "", "tool_calls": [], "completion_tokens": 1}
        message: dict[str, Any] = {"role": "assistant", "content": answer["content"] or None}
        if answer["tool_calls"]:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for i, c in enumerate(answer["tool_calls"])
            ]
        usage = {"prompt_tokens": prompt, "completion_tokens": answer["completion_tokens"],
                 "total_tokens": prompt + answer["completion_tokens"],
                 "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)}}
        finish = "tool_calls" if answer["tool_calls"] else "stop"
        return 200, {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
                     "model": self.model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                     "usage": usage}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                sys.stderr.write("fake-openai: " + (args[0] % args[1:]) + "\n")

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "owned_by": "atlas-tests", "max_model_len": server.max_model_len}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append({"path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path == "/tokenize":
                    count = count_tokens(body.get("messages", []))
                    return self._send(200, {"count": count, "max_model_len": server.max_model_len, "tokens": []})
                if server.die_after is not None and server.completions() > server.die_after:
                    self.connection.close()  # no answer, and no server from now on
                    threading.Thread(target=server.stop, daemon=True).start()
                    return
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.failures:
                    status = server.failures.popleft()
                    return self._send(status, {"error": {"message": f"injected {status}", "type": "server_error", "code": status}})
                status, payload = server._completion(body)
                if status != 200 or not body.get("stream"):
                    return self._send(status, payload)
                self._stream(payload)

            def _stream(self, payload: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                choice = payload["choices"][0]
                base = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"], "model": payload["model"]}
                deltas = [{"role": "assistant", "content": ""}]
                text = choice["message"]["content"] or ""
                deltas += [{"content": text[i:i + 8]} for i in range(0, len(text), 8)]
                for i, call in enumerate(choice["message"].get("tool_calls", [])):
                    deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                   "function": {"name": call["function"]["name"], "arguments": ""}}]})
                    deltas.append({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]})
                chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
                chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
                chunks.append({**base, "choices": [], "usage": payload["usage"]})
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


def main(argv: list[str]) -> None:
    """Stand-in for `vllm serve MODEL --port P ...`: logs its arguments, serves until SIGTERM.

    Reads the answers to give from the file named by --answers (JSON list of strings), if any.
    """
    args = argv[1:] if argv and argv[0] == "serve" else argv
    model = args[0]
    port = int(args[args.index("--port") + 1])
    name = args[args.index("--served-model-name") + 1] if "--served-model-name" in args else model
    server = FakeOpenAIServer(model=name, port=port)
    if "--answers" in args:
        for text in json.loads(open(args[args.index("--answers") + 1]).read()):
            server.answer(text)
    print(f"stand-in vllm: args {' '.join(argv)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (print("stand-in vllm: SIGTERM, shutting down", flush=True), sys.exit(0)))
    delay = float(args[args.index("--startup-delay") + 1]) if "--startup-delay" in args else 0.0
    time.sleep(delay)  # a real server loads weights before it answers
    print(f"stand-in vllm: serving on {port}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
