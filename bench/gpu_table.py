"""Planner against vLLM, preset by card: start ATLAS's managed server as planned, measure what it holds.

    python -m bench.gpu_bench table --models models/ --preset P [--preset Q ...] --card 12 --card 16 --card 24 --out DIR

For each preset x card the planner (atlas.planner, as `atlas plan` prints it) says what fits.
Every row whose weights and overhead fit the card is started through ATLAS's own VLLMModel
(the same `vllm serve` flags a run uses: --kv-cache-memory-bytes, --max-model-len,
--max-num-seqs, --max-num-batched-tokens), several at once on the large card while their
planned footprints fit beside each other. Each started row records:

- vLLM's figures from its log (weights loaded, KV memory, KV tokens) and /v1/models' max_model_len;
- what the serving process really holds, from nvidia-smi, after start-up and again after a
  burst of long prompts, and the drop in used GPU memory when it is stopped;
- a chat turn, a tool call the model must make (vLLM's structured outputs hold dummy weights
  to the tool's schema), and the start and stop times.

A row fits the card when what the process held stays within vram_gb x gpu_memory_utilization.
`fit_overhead` then gives each preset's overhead from what its starts held.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.gpu_models import HARMONY_SPECIALS
from bench.gpu_server import (card_gpu, gpu_total_gib, gpu_used_mib, load_preset, managed_model, process_mib,
                              settled_used_mib)
from bench.vllm_log import parse_log


@dataclass
class Row:
    preset: str
    card: float
    plan: dict
    reserve_gib: float  # planned footprint: what this start may take of the large card
    record: dict = field(default_factory=dict)


def plan_rows(presets: list[str], cards: list[float], overheads: dict[str, float],
              utilizations: dict[str, float] | None = None) -> list[Row]:
    from atlas.planner import Architecture, plan

    rows = []
    for preset in presets:
        composed = load_preset(preset)
        arch = Architecture.model_validate(composed["architecture"])
        for card in cards:
            gpu = card_gpu(card, overheads.get(preset), (utilizations or {}).get(preset))  # as managed_model plans
            planned = plan(arch, gpu, composed["server"].get("kv_cache_dtype", "auto"))
            rows.append(Row(preset, card, vars(planned), planned.footprint_gib if planned.kv_budget_gib > 0 else 0.0))
    return rows


def waves(rows: list[Row], free_gib: float) -> list[list[Row]]:
    """Startable rows packed into groups whose planned footprints fit the large card together (first fit)."""
    groups: list[list[Row]] = []
    for row in (r for r in rows if r.reserve_gib > 0):
        for group in groups:
            if sum(r.reserve_gib + 1.0 for r in group) + row.reserve_gib + 1.0 <= free_gib:
                group.append(row)
                break
        else:
            groups.append([row])
    return groups


COMMANDS = ("ls", "git status", "pytest -x")  # the only arguments the schema allows
BASH_TOOL = {"type": "function", "function": {
    "name": "bash", "description": "Run one shell command in the repository.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string", "enum": list(COMMANDS)}},
                   "required": ["command"], "additionalProperties": False}}}
FORCE_BASH = {"type": "function", "function": {"name": "bash"}}  # tool_choice naming the call


def serve_checks(model, row: Row) -> dict:
    """A chat turn and a forced tool call; dummy weights emit text noise, so the call is held to the schema."""
    chat = model.query([{"role": "user", "content": "Write a Python function that adds two numbers."}])
    checks = {"chat": {"completion_tokens": chat.usage.completion_tokens, "latency_s": round(chat.latency_s, 3),
                       "ttft_s": chat.ttft_s and round(chat.ttft_s, 3), "finish_reason": chat.finish_reason}}
    if is_harmony(model):
        return {**checks, **harmony_checks(model)}
    plain = model.settings
    model.settings = plain.model_copy(update={"max_tokens": 48, "extra_body": {"tool_choice": FORCE_BASH}})
    try:
        called = model.query([{"role": "user", "content": "List the files."}], tools=[BASH_TOOL])
        checks["tool_call"] = {**call_validity([(c.name, c.arguments) for c in called.tool_calls]),
                               "finish_reason": called.finish_reason}
    except Exception as error:  # noqa: BLE001 - recorded; the row's memory figures still count
        checks["tool_call"] = {"error": f"{type(error).__name__}: {error}"[:400], "valid": False}
    finally:
        model.settings = plain
    if model.settings.server.reasoning_parser:
        checks["reasoning"] = reasoning_check(model)
    return checks


def reasoning_check(model) -> dict:
    """A model with a reasoning parser: vLLM returns the reasoning apart from the answer, and its tokens are counted.

    Read from vLLM's own answer (the `reasoning` field, or the older `reasoning_content`, and
    usage.completion_tokens_details.reasoning_tokens where the server reports it: vLLM 0.26's chat
    completions do not), and from what ATLAS's backend made of the same kind of turn (its thinking
    tokens, the server's count or its own). Valid when the reasoning came apart and was counted.
    """
    import httpx

    body = {"model": model.settings.model, "max_tokens": 64, "temperature": 0,
            "messages": [{"role": "user", "content": "Which command lists the files? Think first."}]}
    try:
        reply = httpx.post(f"{model.server.base_url}/chat/completions", json=body, timeout=120).json()
        message, usage = reply["choices"][0]["message"], reply.get("usage") or {}
        reasoning = message.get("reasoning") or message.get("reasoning_content") or ""
        counted = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        turn = model.query(body["messages"])
    except Exception as error:  # noqa: BLE001 - recorded; the row's memory figures still count
        return {"error": f"{type(error).__name__}: {error}"[:400], "valid": False}
    separate = "reasoning" in message or "reasoning_content" in message
    return {"separate": separate, "reasoning_chars": len(reasoning), "content_chars": len(message.get("content") or ""),
            "reasoning_tokens": counted, "completion_tokens": usage.get("completion_tokens"),
            "atlas_thinking_tokens": turn.usage.thinking_tokens,
            "atlas_counted": turn.extra.get("thinking_tokens_counted", "server usage"),
            "valid": separate and bool(reasoning) and turn.usage.thinking_tokens > 0}


def is_harmony(model) -> bool:
    """gpt-oss: vLLM renders and parses its turns in harmony (openai_harmony), not through a chat template."""
    return model.settings.server.reasoning_parser == "openai_gptoss"


def harmony_call_tag() -> dict:
    """A structural tag holding gpt-oss's output to one harmony turn: a short analysis, then a call of `bash`.

    Dummy weights never open harmony's channels by themselves, and vLLM applies a named tool_choice's
    JSON only after the analysis ends (`<|channel|>final`), so a named call runs to max_tokens. With
    this tag (and `enable_in_reasoning`, see gpu_server.managed_model) the output is what a real
    gpt-oss writes for a call: special tokens as tokens, the arguments held to the tool's schema. What
    it then checks is vLLM's side: the harmony parser, the `openai` tool parser, the reasoning
    parser and the token accounting, streamed and not. Special tokens go by id (o200k_harmony's, which
    `bench.gpu_models --tiktoken` gives the model folder): vLLM checks a tag before it has a tokenizer
    at hand, and refuses token names there ("Invalid structured_outputs structural_tag specification",
    the H100, 2026-12-07)."""
    def token(name: str) -> dict:
        return {"type": "token", "token": HARMONY_SPECIALS[name]}

    def text(value: str) -> dict:
        return {"type": "const_string", "value": value}

    elements = [token("<|channel|>"), text("analysis"), token("<|message|>"),
                {"type": "regex", "pattern": "[a-z]{2,8}( [a-z]{2,8}){3,8}[.]"},
                token("<|end|>"), token("<|start|>"), text("assistant"), token("<|channel|>"),
                text("commentary to=functions.bash "), token("<|constrain|>"), text("json"), token("<|message|>"),
                # (at most one blank in a row: noise would pad the JSON with blanks until max_tokens)
                {"type": "json_schema", "json_schema": BASH_TOOL["function"]["parameters"], "max_whitespace_cnt": 1},
                token("<|call|>")]
    return {"type": "structural_tag", "format": {"type": "sequence", "elements": elements}}


def harmony_checks(model) -> dict:
    """gpt-oss's tool call and reasoning through vLLM's harmony path, and what its renderer keeps of them next turn.

    - `tool_call`: ATLAS's backend (streamed, as runs ask) gets the call, its reasoning apart, and the
      reasoning tokens counted; `tool_call_plain`: the same request answered whole (not streamed).
    - `next_turn`: the prompt tokens of a history holding that call, with and without its reasoning (the
      `reasoning` field ATLAS sends with reasoning_in_history): harmony keeps the reasoning behind a call
      (more tokens) and drops it once a final answer follows (the same tokens)."""
    import httpx

    messages = [{"role": "user", "content": "List the files."}]
    tag = {"structured_outputs": {"structural_tag": json.dumps(harmony_call_tag())}}
    plain = model.settings
    model.settings = plain.model_copy(update={"max_tokens": 96, "extra_body": tag})
    checks: dict = {}
    try:
        called = model.query(messages, tools=[BASH_TOOL])
        checks["tool_call"] = {**call_validity([(c.name, c.arguments) for c in called.tool_calls]),
                               "finish_reason": called.finish_reason, "reasoning": called.extra.get("reasoning", ""),
                               "reasoning_tokens": called.usage.thinking_tokens,
                               "reasoning_tokens_counted": called.extra.get("thinking_tokens_counted", "server usage")}
        checks["tool_call"]["valid"] &= bool(checks["tool_call"]["reasoning"]) and called.usage.thinking_tokens > 0
    except Exception as error:  # noqa: BLE001 - recorded; the row's memory figures still count
        checks["tool_call"] = {"error": f"{type(error).__name__}: {error}"[:400], "valid": False}
    finally:
        model.settings = plain
    body = {"model": plain.model, "max_tokens": 96, "temperature": 0, "messages": messages, "tools": [BASH_TOOL], **tag}
    url = f"{model.server.base_url}/chat/completions"
    try:
        reply = httpx.post(url, json=body, timeout=120).json()
        message, usage = reply["choices"][0]["message"], reply.get("usage") or {}
        reasoning = message.get("reasoning") or message.get("reasoning_content") or ""
        # vLLM 0.26's chat completions count no reasoning tokens (None): ATLAS's backend counts them itself
        counted = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        calls = [(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
        checks["tool_call_plain"] = {**call_validity(calls), "finish_reason": reply["choices"][0]["finish_reason"],
                                     "reasoning": reasoning, "reasoning_tokens": counted}
        checks["tool_call_plain"]["valid"] &= bool(reasoning)
        atlas_tokens = checks["tool_call"].get("reasoning_tokens") or 0
        checks["reasoning"] = {"separate": bool(reasoning), "reasoning_chars": len(reasoning),
                               "content_chars": len(message.get("content") or ""), "reasoning_tokens": counted,
                               "atlas_thinking_tokens": atlas_tokens,
                               "atlas_counted": checks["tool_call"].get("reasoning_tokens_counted"),
                               "valid": bool(reasoning) and atlas_tokens > 0}
        checks["next_turn"] = next_turn_check(url, plain.model, reasoning or "Listing the files first.")
    except Exception as error:  # noqa: BLE001 - recorded
        checks.setdefault("tool_call_plain", {"error": f"{type(error).__name__}: {error}"[:400], "valid": False})
        checks.setdefault("reasoning", {"error": f"{type(error).__name__}: {error}"[:400], "valid": False})
    return checks


def next_turn_check(url: str, served: str, reasoning: str) -> dict:
    """Prompt tokens with and without an earlier turn's `reasoning`: kept behind a tool call, dropped before an answer."""
    import httpx

    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]}
    history = [{"role": "user", "content": "List the files."}, {**call, "reasoning": reasoning},
               {"role": "tool", "tool_call_id": "call_1", "content": "a.py\nb.py"}]
    answered = [*history, {"role": "assistant", "content": "Two files.", "reasoning": reasoning},
                {"role": "user", "content": "And now?"}]

    def prompt_tokens(messages: list[dict]) -> int:
        body = {"model": served, "max_tokens": 1, "temperature": 0, "messages": messages, "tools": [BASH_TOOL]}
        return httpx.post(url, json=body, timeout=120).json()["usage"]["prompt_tokens"]

    def without(messages: list[dict]) -> list[dict]:
        return [{k: v for k, v in m.items() if k != "reasoning"} for m in messages]

    kept = prompt_tokens(history) - prompt_tokens(without(history))
    dropped = prompt_tokens(answered) - prompt_tokens(without(answered))
    return {"kept_behind_call_tokens": kept, "kept_before_answer_tokens": dropped, "valid": kept > 0 and dropped == 0}


def call_validity(calls: list[tuple[str, str]]) -> dict:
    """Calls as (name, arguments): valid when there is one or more, each `bash` with a command the schema allows."""
    try:
        parsed = [json.loads(arguments) for _, arguments in calls]
        valid = bool(calls) and all(name == "bash" and p.get("command") in COMMANDS for (name, _), p in zip(calls, parsed))
    except (ValueError, AttributeError):
        valid = False
    return {"calls": [{"name": n, "arguments": a} for n, a in calls], "valid": valid}


def raw_tool_calls(base_url: str, served: str) -> dict:
    """vLLM's own answers to forced tool calls, as sent (named, streamed and not; "required"), for diagnosis.

    Each variant records the HTTP status, whether the arguments parse to one of the schema's
    commands, and the start of the raw body, so a failed check shows what the server emitted."""
    import httpx

    body = {"model": served, "max_tokens": 48, "temperature": 0,
            "messages": [{"role": "user", "content": "List the files."}], "tools": [BASH_TOOL]}
    variants = {"named": {"tool_choice": FORCE_BASH}, "named_stream": {"tool_choice": FORCE_BASH, "stream": True},
                "required": {"tool_choice": "required"}}
    found = {}
    for name, extra in variants.items():
        try:
            reply = httpx.post(f"{base_url}/chat/completions", json={**body, **extra}, timeout=120)
            text = reply.text
            if extra.get("stream"):
                chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
                arguments = "".join(c["function"].get("arguments") or "" for chunk in chunks for choice in chunk["choices"]
                                    for c in choice["delta"].get("tool_calls") or [])
            else:
                calls = reply.json()["choices"][0]["message"].get("tool_calls") or []
                arguments = calls[0]["function"]["arguments"] if calls else ""
            try:
                valid = json.loads(arguments).get("command") in COMMANDS
            except (ValueError, AttributeError):
                valid = False
            found[name] = {"status": reply.status_code, "arguments": arguments[:300], "valid": valid, "raw": text[:1500]}
        except Exception as error:  # noqa: BLE001 - a diagnosis: every variant is tried
            found[name] = {"error": f"{type(error).__name__}: {error}"[:400], "valid": False}
    return found


def burst(model, row: Row) -> list[str]:
    """Long prompts at the planned concurrency, so activations reach their serving peak before memory is read.

    Returns the requests' errors (a refused burst means the serving peak was not reached)."""
    seqs = max(1, row.plan["recommended_workers"])
    target = min(model.context_window // 2, 8192)  # tokens: a few chunks of --max-num-batched-tokens each
    text = " ".join(f"w{i * 7919 % 104729}" for i in range(target))
    tokens, _ = model.count_tokens([{"role": "user", "content": text}])  # the server's tokenizer decides the length
    text = " ".join(text.split()[:max(1, len(text.split()) * target // max(tokens, 1))])
    errors: list[str] = []

    def send(i: int) -> None:
        try:
            model.query([{"role": "user", "content": f"{i} {text}"}])
        except Exception as error:  # noqa: BLE001 - returned to the caller, which records it
            errors.append(f"{type(error).__name__}: {error}"[:300])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(seqs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def measure_wave(group: list[Row], launcher: str, models: Path, out: Path, total_gib: float,
                 overheads: dict[str, float], emit, utilizations: dict[str, float] | None = None) -> None:
    started: list[tuple[Row, object]] = []
    lock, ready, release = threading.Lock(), threading.Semaphore(0), threading.Event()
    idle_mib = gpu_used_mib()

    def start(row: Row) -> None:
        """Start one server, then keep this thread alive until the wave is done: the server gets SIGTERM
        when the thread that started it ends (PR_SET_PDEATHSIG follows the thread, not the process)."""
        try:
            _start(row)
        finally:
            ready.release()
        release.wait()

    def _start(row: Row) -> None:
        model = managed_model(launcher, models / row.preset, row.preset, row.card, total_gib,
                              overhead_gib=overheads.get(row.preset), max_tokens=64,
                              utilization=(utilizations or {}).get(row.preset))
        run_dir = out / f"table-{row.preset}-{row.card:g}"
        run_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        try:
            model.open(run_dir)
        except Exception as error:  # noqa: BLE001 - a failed start is a finding, recorded with vLLM's cause
            row.record.update(start_error=f"{type(error).__name__}: {error}"[-1500:], open_s=round(time.monotonic() - began, 1))
            model.close()
            return
        row.record["open_s"] = round(time.monotonic() - began, 1)
        with lock:
            started.append((row, model))

    threads = [threading.Thread(target=start, args=(row,), daemon=True) for row in group]
    for thread in threads:
        thread.start()
    for _ in threads:
        ready.acquire()
    for row, model in started:
        pgid = model.server.process.pid
        row.record["process_mib_started"] = process_mib(pgid)
        try:
            row.record.update(serve_checks(model, row))
            row.record["tool_calls_raw"] = raw_tool_calls(model.server.base_url, model.settings.model)
            row.record["burst_errors"] = burst(model, row)
        except Exception as error:  # noqa: BLE001 - recorded; the memory figures still count
            row.record["serve_error"] = f"{type(error).__name__}: {error}"[:600]
        row.record["process_mib_served"] = process_mib(pgid)
        row.record["argv"] = model.describe()["managed_server"]["argv"]
        row.record["server_max_model_len"] = model.context_window  # read back from /v1/models
        row.record["vllm"] = parse_log((out / f"table-{row.preset}-{row.card:g}" / "vllm.log").read_text(errors="replace"))
    used = settled_used_mib()
    for row, model in started:  # stop one at a time: each stop's drop in used memory is what that server held
        began = time.monotonic()
        model.close()
        row.record["close_s"] = round(time.monotonic() - began, 1)
        row.record["exit_code"] = model.server.process.returncode
        now = settled_used_mib(previous=used)
        row.record["freed_mib"] = used - now
        used = now
    release.set()
    for thread in threads:
        thread.join()
    for row in group:
        row.record["gpu_idle_mib_before"], row.record["gpu_used_mib_after"] = idle_mib, used
        emit(summarize(row))


def summarize(row: Row) -> dict:
    """One table row: the plan, what vLLM made, what the process held against the card."""
    record, plan = row.record, row.plan
    held = [m for m in (record.get("process_mib_started"), record.get("process_mib_served"), record.get("freed_mib"))
            if m is not None]
    held_gib = max(held) / 1024 if held else None
    usable = row.card * plan["gpu_memory_utilization"]
    vllm = record.get("vllm", {})
    result = {"part": "table", "preset": row.preset, "card_gib": row.card, "planner": plan, **record,
              "held_gib": held_gib and round(held_gib, 3), "usable_gib": round(usable, 3)}
    if held_gib is not None and "kv_tokens" in vllm:
        result["within_card"] = held_gib <= usable
        result["kv_tokens_ratio"] = round(plan["kv_tokens"] / vllm["kv_tokens"], 4)
        kv_gib = vllm.get("kv_reserved_gib") or plan["kv_cache_memory_bytes"] / 2**30
        result["overhead_measured_gib"] = round(held_gib - vllm.get("weights_gib", plan["weights_gib"]) - kv_gib, 3)
    return result


def fitted_overheads(results: Path, margin_gib: float = 0.25) -> dict[str, float]:
    """Each preset's overhead (atlas.planner.fit_overhead) from the started rows of an earlier `table` run."""
    from atlas.planner import fit_overhead

    starts: dict[str, list[tuple[float, float, float]]] = {}
    for line in results.read_text().splitlines():
        row = json.loads(line)
        vllm = row.get("vllm") or {}
        if row.get("part") == "table" and row.get("held_gib") and "weights_gib" in vllm and "kv_reserved_gib" in vllm:
            starts.setdefault(row["preset"], []).append((row["held_gib"], vllm["weights_gib"], vllm["kv_reserved_gib"]))
    return {preset: fit_overhead(measured, margin_gib) for preset, measured in starts.items()}


def overheads_from(options) -> dict[str, float]:
    """--fit-from's fitted overheads, then --overhead PRESET=GIB on top."""
    overheads = fitted_overheads(Path(options.fit_from)) if options.fit_from else {}
    overheads.update(preset_values(options.overhead))
    return overheads


def preset_values(items: list[str]) -> dict[str, float]:
    """PRESET=VALUE options (--overhead, --utilization) as {preset: value}."""
    return {k: float(v) for k, v in (item.split("=", 1) for item in items)}


def table(options, emit) -> None:
    out = Path(options.out)
    overheads = overheads_from(options)
    utilizations = preset_values(options.utilization)
    if overheads or utilizations:
        emit({"part": "overheads", "overhead_gib": overheads, "fit_from": options.fit_from,
              "gpu_memory_utilization": utilizations})
    rows = plan_rows(options.preset, options.card or [12, 16, 24, 32], overheads, utilizations)
    if options.skip_unfit:
        rows = [r for r in rows if r.plan["fits"] or r.reserve_gib <= 0]
    for row in rows:
        if row.reserve_gib <= 0:
            emit({"part": "table", "preset": row.preset, "card_gib": row.card, "planner": row.plan, "started": False})
    total = gpu_total_gib()
    free = total - gpu_used_mib() / 1024 - 1.0
    for group in waves(rows, free):
        measure_wave(group, options.launcher, Path(options.models), out, total, overheads, emit, utilizations)
