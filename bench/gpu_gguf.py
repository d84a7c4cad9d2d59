"""Real GGUF weights on vLLM through ATLAS's managed server: start, a chat turn, /tokenize, the prefix cache, a tool call, stop.

    python3 -P -m bench.gpu_gguf --gguf MODEL.gguf --hf DIR --out DIR [--launcher ~/vllm-env/bin/vllm]

DIR (--hf) is the model's Hugging Face folder (`python -m bench.gguf_folder MODEL.gguf --out DIR`:
config.json, tokenizer, tool_chat_template.jinja). vLLM 0.26 serves GGUF only with
vllm-gguf-plugin installed beside it (the GPU kit carries it with `--with vllm-gguf-plugin`),
and takes config and tokenizer from DIR through `model.server.extra_args`. The server runs
with the Hermes tool template and parser, so one start answers every check.

Each check is one JSON line in --out/results.jsonl (the server's log is --out/vllm.log):
`env` (vLLM and plugin versions, the GGUF's sha256, the GPU), `start` (seconds until
/v1/models answered), `chat` (the reply, finish_reason, usage), `tokenize` (/tokenize's count
against usage.prompt_tokens for the same messages), `prefix-cache` (cached tokens on a second
turn sharing the first's prefix), `tool-call` (tool_choice auto through the hermes parser,
then a call forced by name: the parsed call, or the raw text and why it did not parse),
`stop` (seconds, exit code). A failed check is recorded and the next one still runs; the
server is always stopped.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from bench.gpu_kit import sha256_file
from bench.gpu_table import BASH_TOOL, COMMANDS, FORCE_BASH
from bench.vllm_log import parse_log

SERVED = "smollm2-135m-gguf"
# long enough to fill several 16-token KV blocks, so the second turn's shared prefix is cached
SYSTEM = ("You are a careful assistant working in a software repository. Answer briefly and precisely. When a "
          "question is about files, prefer running a command to guessing. Never invent file names, never claim "
          "to have run a command you did not run, and say so plainly when you do not know the answer.")
QUESTION = "What is the capital of France? Answer in one sentence."
FOLLOW_UP = "And what is the capital of Italy?"
TOOL_PROMPT = "List the files in the current directory. Use the bash tool."
VERSION_LINE = re.compile(r"vLLM API server version (\S+)")


def model_config(gguf: Path, hf: Path, launcher: str, server_args: list[str], max_tokens: int) -> dict[str, Any]:
    """The `model` section of an ATLAS run serving this GGUF (backend vllm, managed server)."""
    return {"name": "smollm2-135m-gguf", "backend": "vllm", "model": SERVED, "max_tokens": max_tokens,
            "tokenize_endpoint": True, "retry_initial_wait": 0.5, "timeout": 120,
            "server": {"command": [launcher, "serve"], "weights": str(gguf), "tool_call_parser": "hermes",
                       "max_num_seqs": 4, "kv_cache_memory_bytes": 2 * 2**30,
                       "extra_args": ["--tokenizer", str(hf), "--hf-config-path", str(hf),
                                      "--chat-template", str(hf / "tool_chat_template.jinja"), *server_args],
                       "env": {"VLLM_USE_FLASHINFER_SAMPLER": "0"},
                       "startup_timeout": 300, "stall_timeout": 240, "progress_interval": 15}}


def gpu_name() -> str:
    """The GPU's name and driver from nvidia-smi, or why it could not be read."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or f"nvidia-smi exited {out.returncode}: {out.stderr.strip()[:200]}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"nvidia-smi: {type(error).__name__}: {error}"


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def usage(response) -> dict[str, int]:
    u = response.usage
    return {"prompt_tokens": u.prompt_tokens, "cached_tokens": u.cached_prompt_tokens,
            "completion_tokens": u.completion_tokens}


def tokenize_count(base_url: str, messages: list[dict]) -> int:
    """vLLM's own /tokenize for these messages (the model's tokenizer and chat template), asked directly."""
    import httpx

    reply = httpx.post(f"{base_url.removesuffix('/v1')}/tokenize", json={"model": SERVED, "messages": messages},
                       timeout=60)
    reply.raise_for_status()
    return int(reply.json()["count"])


def why_not_parsed(text: str) -> str:
    """Why vLLM's hermes parser found no call in a reply (its rule: JSON between <tool_call> tags)."""
    if "<tool_call>" not in text:
        return "the reply has no <tool_call> tag"
    body = text.split("<tool_call>", 1)[1].split("</tool_call>", 1)[0]
    try:
        parsed = json.loads(body)
    except ValueError as error:
        return f"the text after <tool_call> is not JSON ({error})"
    if not isinstance(parsed, dict) or "name" not in parsed or "arguments" not in parsed:
        return "the JSON after <tool_call> lacks 'name' or 'arguments'"
    return "the parser returned no call although the tags hold a call (see the server log)"


def tool_call(model, tool_choice: Any) -> dict[str, Any]:
    """One tool turn with `tool_choice` (None: the server's default, auto): the parsed calls, or the raw text and why."""
    plain = model.settings
    if tool_choice is not None:
        model.settings = plain.model_copy(update={"extra_body": {**plain.extra_body, "tool_choice": tool_choice}})
    try:
        reply = model.query([{"role": "user", "content": TOOL_PROMPT}], tools=[BASH_TOOL])
    finally:
        model.settings = plain
    calls = [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
    found: dict[str, Any] = {"tool_choice": tool_choice or "auto", "finish_reason": reply.finish_reason,
                             "usage": usage(reply), "calls": calls}
    if calls:
        try:
            arguments = [json.loads(c["arguments"]) for c in calls]
            found["valid"] = all(c["name"] == "bash" and isinstance(a, dict) and a.get("command") in COMMANDS
                                 for c, a in zip(calls, arguments))
        except ValueError:
            found["valid"] = False
    else:
        found.update(valid=False, raw=reply.content[:1500], why=why_not_parsed(reply.content))
    return found


def run_checks(model, out: Path, emit: Callable[[dict], None]) -> None:
    """Start the managed server, run every check (each recorded, pass or fail), stop it."""
    began = time.monotonic()
    try:
        model.open(out)
    except Exception as error:  # noqa: BLE001 - the failed start is the result
        emit({"part": "start", "ok": False, "start_s": round(time.monotonic() - began, 1),
              "error": f"{type(error).__name__}: {error}"[:3000]})
        model.close()
        return
    server = model.server
    log = server.log_text()
    emit({"part": "start", "ok": True, "start_s": round(time.monotonic() - began, 1), "argv": server.argv,
          "max_model_len": model.context_window, "vllm_version_logged": (VERSION_LINE.findall(log) or [None])[-1],
          "vllm_log": parse_log(log)})
    try:
        first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
        state: dict[str, Any] = {}

        def chat() -> dict:
            reply = state["reply"] = model.query(first)
            return {"content": reply.content, "finish_reason": reply.finish_reason, "usage": usage(reply),
                    "latency_s": round(reply.latency_s, 3), "ttft_s": reply.ttft_s and round(reply.ttft_s, 3)}

        def tokenize() -> dict:
            direct = tokenize_count(server.base_url, first)
            counted, exact = model.count_tokens(first)
            # without a first reply (an empty one is an error) the server's and ATLAS's counts are still compared
            prompt = state["reply"].usage.prompt_tokens if "reply" in state else None
            return {"tokenize_count": direct, "atlas_count": counted, "atlas_exact": exact, "prompt_tokens": prompt,
                    "equal": direct == counted and prompt in (None, direct)}

        def prefix_cache() -> dict:
            answer = state["reply"].content if "reply" in state else "Paris."  # the first turn's, when it had one
            second = [*first, {"role": "assistant", "content": answer},
                      {"role": "user", "content": FOLLOW_UP}]
            reply = model.query(second)
            return {"content": reply.content, "usage": usage(reply), "cached": reply.usage.cached_prompt_tokens > 0}

        checks = [("chat", chat), ("tokenize", tokenize), ("prefix-cache", prefix_cache),
                  ("tool-call", lambda: {"auto": tool_call(model, None), "named": tool_call(model, FORCE_BASH)})]
        for part, check in checks:
            try:
                emit({"part": part, **check()})
            except Exception as error:  # noqa: BLE001 - recorded; the next check still runs
                emit({"part": part, "error": f"{type(error).__name__}: {error}"[:1500]})
    finally:
        stopping = time.monotonic()
        model.close()
        emit({"part": "stop", "stop_s": round(time.monotonic() - stopping, 2),
              "exit_code": server.process.returncode if server.process else None,
              "served_s": round(server.wall_seconds, 1)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", type=Path, required=True, help="the .gguf file")
    parser.add_argument("--hf", type=Path, required=True, help="its Hugging Face folder (bench.gguf_folder)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.jsonl and vllm.log")
    parser.add_argument("--launcher", default="vllm", help="the vllm command (default: vllm on PATH)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="one more `vllm serve` argument (repeatable; use --server-arg=--flag for flags)")
    parser.add_argument("--max-tokens", type=int, default=96, help="tokens per answer (default %(default)s)")
    options = parser.parse_args(argv)
    for path, what in ((options.gguf, "--gguf"), (options.hf / "config.json", "--hf"),
                       (options.hf / "tool_chat_template.jinja", "--hf")):
        if not path.is_file():
            raise SystemExit(f"{what}: {path} is missing (make the folder with python -m bench.gguf_folder)")
    options.out.mkdir(parents=True, exist_ok=True)
    results = options.out / "results.jsonl"

    def emit(record: dict) -> None:
        record = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
        with open(results, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record)[:1500], flush=True)

    from atlas.models import make_model

    emit({"part": "env", "vllm": package_version("vllm"), "vllm_gguf_plugin": package_version("vllm-gguf-plugin"),
          "gguf": package_version("gguf"), "transformers": package_version("transformers"),
          "torch": package_version("torch"),
          "gguf_file": options.gguf.name, "gguf_bytes": options.gguf.stat().st_size,
          "gguf_sha256": sha256_file(options.gguf), "gpu": gpu_name()})
    config = model_config(options.gguf.resolve(), options.hf.resolve(), options.launcher, options.server_arg,
                          options.max_tokens)
    run_checks(make_model(config), options.out, emit)


if __name__ == "__main__":
    main()
