"""A local stand-in for an OpenAI-compatible server (vLLM, llama.cpp, SGLang): the wire format, not a model.

It serves GET /v1/models (with vLLM's `max_model_len`), POST /v1/chat/completions (JSON or
server-sent-event streams, text or tool calls, usage with cached-token details only when
`--enable-prompt-tokens-details` is on, as vLLM does) and vLLM's POST /tokenize. Answers
come from a queue the test fills; `fail_next` makes the next requests fail the way real
servers do (429, 500), and `delay_s` slows every answer down. Over-long requests get vLLM
0.26's own messages and error bodies: the serving layer's 400s, or (`overflow="engine"`) the
V1 engine's "decoder prompt" error, which a stream reports as an error event after its 200.
Run as a script it is also the stand-in for `vllm serve` (see `main`), with vLLM's log lines
for start, a port already in use and a failed engine start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# vLLM 0.26's texts (vllm/entrypoints/openai serving layer and vllm/v1/engine input processing)
PROMPT_TOO_LONG = ("This model's maximum context length is {limit} tokens. However, your request has {prompt} "
                   "input tokens. Please reduce the length of the input messages.")
MAX_TOKENS_TOO_LARGE = ("'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
                        "context length is {limit} tokens and your request has {prompt} input tokens "
                        "({max_tokens} > {limit} - {prompt}). (parameter=max_tokens, value={max_tokens})")
DECODER_PROMPT_TOO_LONG = ("The decoder prompt (length {prompt}) is longer than the maximum model length of {limit}. "
                           "Make sure that `max_model_len` is no smaller than the number of text tokens.")


def count_tokens(messages: list[dict]) -> int:
    """The stand-in's 'tokenizer': four characters a token, as the tests compute by hand."""
    return sum(len(str(m.get("content") or "")) for m in messages) // 4


def tools_tokens(tools: list[dict] | None) -> int:
    return len(json.dumps(tools)) // 4 if tools else 0


HERMES_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def hermes_parsed(answer: dict) -> dict:
    """vLLM's hermes parser on a text answer: the JSON between <tool_call> tags becomes calls, the text
    before them the content; text it cannot parse stays the content, with no calls."""
    text = answer["content"]
    if "<tool_call>" not in text:
        return answer
    try:
        calls = [json.loads(a or b) for a, b in HERMES_CALL.findall(text)]
        calls = [{"name": c["name"], "arguments": json.dumps(c["arguments"])} for c in calls]
    except (ValueError, KeyError, TypeError):
        return answer
    return {**answer, "content": text[:text.find("<tool_call>")], "tool_calls": calls}


def tagged_tool(body: dict) -> str | None:
    """The tool a harmony structural tag (structured_outputs.structural_tag) addresses: `to=functions.NAME`."""
    tag = (body.get("structured_outputs") or {}).get("structural_tag")
    if not tag:
        return None
    for element in json.loads(tag)["format"]["elements"]:
        if element["type"] == "const_string" and (found := re.search(r"to=functions\.(\w+)", element["value"])):
            return found.group(1)
    return None


def harmony_kept_reasoning(messages: list[dict]) -> int:
    """Characters of earlier reasoning vLLM's harmony renderer keeps: what follows the last final answer."""
    finals = [i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("content") and not m.get("tool_calls")]
    after = finals[-1] + 1 if finals else 0
    return sum(len(m.get("reasoning") or "") for m in messages[after:] if m["role"] == "assistant")


def forced_call(body: dict) -> dict | None:
    """Like vLLM's structured output for a named tool_choice (or a harmony tag naming a tool): a call to that
    tool, each required argument its schema's first allowed value (a stand-in for a parser-read call, not a
    model's choice)."""
    choice = body.get("tool_choice")
    name = choice["function"]["name"] if isinstance(choice, dict) else tagged_tool(body)
    if name is None:
        return None
    tool = next((t["function"] for t in body.get("tools") or [] if t["function"]["name"] == name), None)
    if tool is None:
        return None
    schema = tool.get("parameters") or {}
    arguments = {key: (schema.get("properties", {}).get(key, {}).get("enum") or [""])[0] for key in schema.get("required", [])}
    return {"content": "", "tool_calls": [{"name": name, "arguments": json.dumps(arguments)}], "completion_tokens": 9}


def error_body(message: str, kind: str, code: int, param: str | None = None) -> dict:
    """vLLM's ErrorResponse: the OpenAI shape, {"error": {...}}."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class QuietOnHangUp(ThreadingHTTPServer):
    """A client that hangs up mid-stream (a run being stopped) is normal for a server: no traceback on stderr."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-coder", port: int = 0, max_model_len: int = 32768,
                 prompt_tokens_details: bool = True):
        self.model = model
        self.max_model_len = max_model_len
        self.prompt_tokens_details = prompt_tokens_details  # vLLM: only with --enable-prompt-tokens-details
        self.overflow = "serving"  # or "engine": the V1 engine's decoder-prompt error, in the stream
        self.prefix_caching = False  # when on, cached tokens are the prompt's shared start with the last request
        self.sampling_defaults: dict[str, Any] = {}  # from a generation config (vLLM's --generation-config auto)
        self._prompts: deque[str] = deque(maxlen=64)  # recent prompts: the prefix cache (shared starts count)
        self.metrics = dict.fromkeys(METRICS, 0.0)  # vLLM's /metrics counters and gauges
        self._metrics_lock = threading.Lock()
        self.answers: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.failures: deque[tuple[int, str]] = deque()
        self.delay_s = 0.0
        self.omit_usage = False  # like servers that ignore stream_options.include_usage: no usage at all
        self.cached_tokens = 0
        self.die_after: int | None = None  # completions served before the server "crashes"
        self.api_key: str | None = None  # like `vllm serve --api-key`: other bearer tokens get 401
        self.record_path: str | None = None  # every POST appended here as a JSON line (for a stand-in process)
        self.tool_parser: str | None = None  # "hermes": tool calls parsed from <tool_call> text, as vLLM's parser does
        self.reasoning: str | None = None  # like --reasoning-parser: this text comes back as `reasoning`, counted apart
        self.harmony = False  # like gpt-oss's harmony renderer: assistant messages' `reasoning` counted where kept
        self.reasoning_tokens_reported = True  # usage.completion_tokens_details (vLLM 0.26's chat completions: none)
        self.httpd = QuietOnHangUp(("127.0.0.1", port), self._handler())
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

    def answer(self, content: str = "", tool_calls: list[dict] | None = None, completion_tokens: int = 7,
               reasoning: str = "") -> None:
        self.answers.append({"content": content, "tool_calls": tool_calls or [], "completion_tokens": completion_tokens,
                             "reasoning": reasoning})

    def fail_next(self, status: int, times: int = 1, message: str | None = None) -> None:
        self.failures.extend([(status, message or f"injected {status}")] * times)

    def overflow_error(self, body: dict) -> tuple[str, str | None] | None:
        """(message, param) of vLLM's refusal of an over-long request, or None when it fits."""
        prompt, limit, max_tokens = count_tokens(body["messages"]), self.max_model_len, body.get("max_tokens")
        if limit is None:  # a server with no window of its own
            return None
        if self.overflow == "engine" and prompt >= limit:
            return DECODER_PROMPT_TOO_LONG.format(prompt=prompt, limit=limit), None
        if prompt >= limit:
            return PROMPT_TOO_LONG.format(prompt=prompt, limit=limit), None
        if max_tokens and prompt + max_tokens > limit:
            return MAX_TOKENS_TOO_LARGE.format(max_tokens=max_tokens, limit=limit, prompt=prompt), "max_tokens"
        return None

    def applied_sampling(self, body: dict) -> dict[str, Any]:
        """What vLLM samples with: the request's values, else the generation config's, else vLLM's own."""
        return {k: body.get(k, self.sampling_defaults.get(k, neutral)) for k, neutral in VLLM_NEUTRAL.items()}

    def _prefix_hit(self, messages: list[dict]) -> int:
        """Tokens of this prompt that start like an earlier one (vLLM caches every prompt's blocks)."""
        text = "".join(str(m.get("content") or "") for m in messages)
        shared = 0
        if self.prefix_caching:
            for earlier in list(self._prompts):
                same = next((i for i, (a, b) in enumerate(zip(earlier, text)) if a != b), min(len(earlier), len(text)))
                shared = max(shared, same)
        self._prompts.append(text)
        return shared // 4

    def count(self, **increments: float) -> None:
        with self._metrics_lock:
            for name, value in increments.items():
                self.metrics[f"vllm:{name}"] += value

    def metrics_text(self) -> str:
        """Prometheus text as vLLM writes it (labels on every sample, counters as floats)."""
        labels = f'{{engine="0",model_name="{self.model}"}}'
        return "".join(f"# TYPE {name} gauge\n{name}{labels} {value}\n" for name, value in self.metrics.items())

    def _completion(self, body: dict) -> tuple[int, dict]:
        prompt = count_tokens(body["messages"])
        if self.harmony:  # gpt-oss: earlier reasoning is rendered as the analysis channel, where harmony keeps it
            prompt += harmony_kept_reasoning(body["messages"]) // 4
        if (refused := self.overflow_error(body)) is not None:
            return 400, error_body(refused[0], "BadRequestError", 400, refused[1])
        # an empty queue answers "ok" (a real server always says something: an empty reply is a fault), or a
        # named tool_choice's call
        answer = self.answers.popleft() if self.answers else forced_call(body) or {"content": "ok", "tool_calls": [],
                                                                                   "completion_tokens": 1}
        if self.tool_parser == "hermes" and body.get("tools") and not answer["tool_calls"]:
            answer = hermes_parsed(answer)
        message: dict[str, Any] = {"role": "assistant", "content": answer["content"] or None}
        if answer.get("reasoning"):  # vLLM's and llama.cpp's field for a reasoning model's thoughts
            message["reasoning_content"] = answer["reasoning"]
        if answer["tool_calls"]:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for i, c in enumerate(answer["tool_calls"])
            ]
        cached = min(prompt, self.cached_tokens or self._prefix_hit(body["messages"]))
        self.count(prompt_tokens_total=prompt, generation_tokens_total=answer["completion_tokens"],
                   request_success_total=1, prefix_cache_queries_total=prompt, prefix_cache_hits_total=cached)
        usage = {"prompt_tokens": prompt, "completion_tokens": answer["completion_tokens"],
                 "total_tokens": prompt + answer["completion_tokens"],
                 "prompt_tokens_details": ({"cached_tokens": min(cached, prompt)}
                                           if self.prompt_tokens_details else None)}
        if self.reasoning is not None:  # vLLM's reasoning parser: the reasoning apart, its tokens in the usage details
            message["reasoning"] = self.reasoning
            thought = max(1, len(self.reasoning) // 4)
            usage["completion_tokens"] += thought
            usage["total_tokens"] += thought
            if self.reasoning_tokens_reported:
                usage["completion_tokens_details"] = {"reasoning_tokens": thought}
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

            def _authorized(self) -> bool:
                # like vLLM, the key guards the /v1 routes only
                if (server.api_key and self.path.startswith("/v1")
                        and self.headers.get("Authorization") != f"Bearer {server.api_key}"):
                    self._send(401, {"error": {"message": "Unauthorized", "type": "invalid_request_error", "code": 401}})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path == "/debug/requests":
                    self._send(200, {"requests": [{**r, "applied_sampling": server.applied_sampling(r["body"])}
                                                  for r in server.requests]})
                elif self.path == "/metrics":
                    data = server.metrics_text().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "created": int(time.time()), "owned_by": "vllm",
                         "root": server.model, "parent": None, "max_model_len": server.max_model_len}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append({"path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                if server.record_path:
                    with open(server.record_path, "a") as record:
                        record.write(json.dumps(server.requests[-1]) + "\n")
                if not self._authorized():
                    return
                if self.path == "/tokenize":
                    count = (len(body["prompt"]) // 4 if "prompt" in body  # vLLM's completion-style form: a text
                             else count_tokens(body.get("messages", [])) + tools_tokens(body.get("tools")))
                    return self._send(200, {"count": count, "max_model_len": server.max_model_len, "tokens": [],
                                            "token_strs": None})
                if server.die_after is not None and server.completions() > server.die_after:
                    self.connection.close()  # no answer, and no server from now on
                    threading.Thread(target=server.stop, daemon=True).start()
                    return
                server.count(num_requests_running=1)
                try:
                    self._answer(body)
                finally:
                    server.count(num_requests_running=-1)

            def _answer(self, body: dict) -> None:
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.failures:
                    status, message = server.failures.popleft()
                    return self._send(status, error_body(message, "server_error", status))
                if body.get("stream") and server.overflow == "engine" and (refused := server.overflow_error(body)):
                    return self._stream_error(refused[0])  # V1: the engine refuses after the 200 went out
                status, payload = server._completion(body)
                if server.omit_usage:
                    payload = {k: v for k, v in payload.items() if k != "usage"} if not body.get("stream") else payload
                if status != 200 or not body.get("stream"):
                    return self._send(status, payload)
                self._stream(payload)

            def _stream_error(self, message: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(f"data: {json.dumps(error_body(message, 'BadRequestError', 400))}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _stream(self, payload: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                choice = payload["choices"][0]
                base = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"], "model": payload["model"]}
                deltas = [{"role": "assistant", "content": ""}]
                if choice["message"].get("reasoning_content"):
                    deltas.append({"reasoning_content": choice["message"]["reasoning_content"]})
                if choice["message"].get("reasoning"):
                    deltas.append({"reasoning": choice["message"]["reasoning"]})
                text = choice["message"]["content"] or ""
                deltas += [{"content": text[i:i + 8]} for i in range(0, len(text), 8)]
                for i, call in enumerate(choice["message"].get("tool_calls", [])):
                    deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                   "function": {"name": call["function"]["name"], "arguments": ""}}]})
                    deltas.append({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]})
                chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
                chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
                if not server.omit_usage:
                    chunks.append({**base, "choices": [], "usage": payload["usage"]})
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


METRICS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
           "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:num_preemptions_total",
           "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
QWEN_GENERATION_CONFIG = {"repetition_penalty": 1.05, "temperature": 0.7, "top_k": 20, "top_p": 0.8}
VLLM_NEUTRAL = {"repetition_penalty": 1.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0,
                "presence_penalty": 0.0, "frequency_penalty": 0.0}


def vllm_log(level: str, where: str, text: str, process: str = "APIServer pid=1") -> None:
    print(f"({process}) {level} {time.strftime('%m-%d %H:%M:%S')} [{where}] {text}", flush=True)


def kv_cache_failure(max_model_len: int) -> None:
    """What vLLM 0.26 logs when the KV cache cannot hold one request of max_model_len, then exits 1."""
    engine = "EngineCore_DP0 pid=2"
    cause = (f"ValueError: To serve at least one request with the model's max seq len ({max_model_len}), 3.00 GiB KV "
             "cache is needed, which is larger than the available KV cache memory (2.50 GiB). Based on the available "
             "memory, the estimated maximum model length is 16400. Try increasing `gpu_memory_utilization` or "
             "decreasing `max_model_len` when initializing the engine.")
    vllm_log("INFO", "gpu_worker.py:298", "Available KV cache memory: 2.50 GiB", engine)
    vllm_log("ERROR", "core.py:708", "EngineCore failed to start.", engine)
    vllm_log("ERROR", "core.py:708", "Traceback (most recent call last):", engine)
    for depth in range(20):
        vllm_log("ERROR", "core.py:708", f'  File "/venv/vllm/v1/engine/core.py", line {100 + depth}, in frame{depth}', engine)
    vllm_log("ERROR", "core.py:708", cause, engine)
    print("Process EngineCore_DP0:\nTraceback (most recent call last):", flush=True)
    for depth in range(20):
        print(f'  File "/venv/vllm/v1/engine/core.py", line {200 + depth}, in frame{depth}', flush=True)
    print(cause, flush=True)
    print("Traceback (most recent call last):", flush=True)
    for depth in range(10):
        print(f'  File "/venv/vllm/v1/engine/utils.py", line {300 + depth}, in wait_for_engine_startup', flush=True)
    print("RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}", flush=True)
    sys.exit(1)


def main(argv: list[str]) -> None:
    """Stand-in for `vllm serve MODEL --port P ...`: vLLM's arguments and log lines, serves until SIGTERM.

    Honours --served-model-name, --max-model-len, --enable-prompt-tokens-details,
    --no-enable-prefix-caching and --generation-config (default auto: the model's sampling
    defaults apply to what a request leaves unset, as vLLM logs). Stand-in-only flags:
    --answers FILE (JSON list of answers), --print-env (prints its environment), --startup-delay S, --startup-log-every S (log lines
    while starting), --fail-kv-cache (vLLM's failed engine start), --delay-s S (each answer's time). GET /debug/requests returns
    each request with the sampling it got.
    """
    args = argv[1:] if argv and argv[0] == "serve" else argv
    model = args[0]

    def value(flag: str, default: str | None = None) -> str | None:
        return args[args.index(flag) + 1] if flag in args else default

    port = int(value("--port"))
    name = value("--served-model-name", model)
    max_model_len = int(value("--max-model-len", "32768"))
    generation_config = value("--generation-config", "auto")
    print(f"stand-in vllm: args {' '.join(argv)}", flush=True)
    vllm_log("INFO", "api_server.py:1896", "vLLM API server version 0.26.0")
    delay = float(value("--startup-delay", "0"))
    every = float(value("--startup-log-every", "0"))
    ends = time.monotonic() + delay
    while time.monotonic() < ends:  # a real server loads weights and compiles before it answers
        time.sleep(min(every or delay, max(0.0, ends - time.monotonic())))
        if every:
            vllm_log("INFO", "weight_utils.py:449", "Loading safetensors checkpoint shards: progress", "EngineCore_DP0 pid=2")
    if "--fail-kv-cache" in args:
        kv_cache_failure(max_model_len)
    server = FakeOpenAIServer(model=name, port=port, max_model_len=max_model_len,
                              prompt_tokens_details="--enable-prompt-tokens-details" in args)
    server.prefix_caching = "--no-enable-prefix-caching" not in args  # vLLM V1 caches prefixes by default
    if generation_config == "auto":
        server.sampling_defaults = dict(QWEN_GENERATION_CONFIG)
        vllm_log("WARNING", "model.py:1487", "Default sampling parameters have been overridden by the model's Hugging "
                 "Face generation config recommended from the model creator. If this is not intended, please relaunch "
                 "vLLM instance with `--generation-config vllm`.")
        vllm_log("INFO", "serving_chat.py:137", f"Using default chat sampling params from model: {QWEN_GENERATION_CONFIG}")
    if "--answers" in args:
        for text in json.loads(open(value("--answers")).read()):
            server.answer(text)
    server.delay_s = float(value("--delay-s", "0"))  # stand-in only: seconds each answer takes
    if "--api-key" in args:
        server.api_key = value("--api-key")
    server.tool_parser = value("--tool-call-parser") if "--enable-auto-tool-choice" in args else None
    if "--record" in args:
        server.record_path = value("--record")
    if "--reasoning-parser" in args:
        server.reasoning = "The user wants the files listed; ls does that."
        server.harmony = value("--reasoning-parser") == "openai_gptoss"
        server.reasoning_tokens_reported = False  # as vLLM 0.26's chat completions: the text, no count
    # a server that echoes its secrets: ATLAS's copy of the log must not keep them
    print(f"stand-in vllm: env HF_TOKEN={os.environ.get('HF_TOKEN', '')}", flush=True)
    if "--print-env" in args:  # stand-in only: its whole environment, inherited variables included
        for name, text in sorted(os.environ.items()):
            print(f"stand-in vllm: environ {name}={text}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (print("stand-in vllm: SIGTERM, shutting down", flush=True), sys.exit(0)))
    vllm_log("INFO", "api_server.py:1428", f"Starting vLLM API server 0 on http://127.0.0.1:{port}")
    print(f"stand-in vllm: serving on {port}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
