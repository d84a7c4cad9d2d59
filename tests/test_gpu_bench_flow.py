"""The GPU bench's two commands end to end on CPU, with stand-ins for `vllm` and `nvidia-smi`.

Device time is scarce: these run `bench.gpu_bench table` and `traffic` exactly as on the GPU
host, through ATLAS's managed VLLMModel, against tests/fixtures/gpu_standins/ (a `vllm` that
logs vLLM 0.26's memory lines and serves the stand-in server, an `nvidia-smi` that reports what
each stand-in server would hold).
"""

import json
import os
import sys
from pathlib import Path

import pytest

from bench.gpu_bench import main
from bench.gpu_table import fitted_overheads

REPO = Path(__file__).resolve().parent.parent
STANDINS = Path(__file__).resolve().parent / "fixtures" / "gpu_standins"
Q14 = "qwen2.5-coder-14b-awq"


@pytest.fixture
def gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDINS}:{os.environ['PATH']}")
    monkeypatch.setenv("GPU_STANDIN_TAG", str(tmp_path / "models"))
    monkeypatch.setenv("ATLAS_REPO", str(REPO))
    monkeypatch.setenv("STANDIN_PYTHON", sys.executable)
    return tmp_path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_table_plans_every_row_starts_those_that_fit_and_reads_what_they_held(gpu):
    out = gpu / "table"
    main(["table", "--models", str(gpu / "models"), "--preset", Q14, "--preset", "devstral-small", "--card", "12",
          "--card", "16", "--out", str(out), "--launcher", str(STANDINS / "vllm")])
    table = {(r["preset"], r["card_gib"]): r for r in records(out / "results.jsonl") if r["part"] == "table"}
    assert set(table) == {(p, c) for p in (Q14, "devstral-small") for c in (12, 16)}
    assert all(table[key]["started"] is False for key in table if key != (Q14, 16))
    row = table[(Q14, 16)]
    # the stand-in reserves what --kv-cache-memory-bytes asked for, so vLLM's tokens are the plan's
    assert row["vllm"]["kv_tokens"] == row["planner"]["kv_tokens"] and row["kv_tokens_ratio"] == 1.0
    # one agent: the 50-step episode needs 28,672 tokens, 18,432 fit; the server's window is that agent context
    assert row["server_max_model_len"] == row["planner"]["agent_context"] == 18_432 and row["planner"]["recommended_workers"] == 1
    # held: 9.53 GiB weights + 3.42 GiB KV + 1.2 GiB, from nvidia-smi per process and from the drop at stop
    assert row["process_mib_started"] == row["freed_mib"] and row["held_gib"] == pytest.approx(14.15, abs=0.01)
    assert row["within_card"] and row["overhead_measured_gib"] == pytest.approx(1.2, abs=0.01)
    assert row["exit_code"] == 0 and row["burst_errors"] == [] and row["chat"]["completion_tokens"] >= 1
    assert row["gpu_used_mib_after"] == 0
    assert {v["status"] for v in row["tool_calls_raw"].values()} == {200}  # vLLM's raw answers, kept for diagnosis
    assert fitted_overheads(out / "results.jsonl") == {Q14: 1.5}  # 1.202 + 0.25, rounded up to 0.05


def test_traffic_runs_the_recommended_workers_first_then_atlas_alone_then_the_rest(gpu):
    out = gpu / "traffic"
    main(["traffic", "--models", str(gpu / "models"), "--preset", Q14, "--card", "24", "--out", str(out),
          "--launcher", str(STANDINS / "vllm"), "--seconds", "1.5", "--warmup", "0.5", "--workers", "1,2",
          "--command-s", "0.05", "--observation-bytes", "400", "--prompt-tokens", "1200", "--loop-overhead"])
    parts = [(r["part"], r.get("workers"), r.get("command_s"), r.get("concurrency")) for r in records(out / "results.jsonl")]
    # vLLM's own runs once per concurrency, and again with the shape of the window without commands
    assert parts == [("traffic-open", None, None, None),
                     ("agent-traffic", 2, 0.05, None), ("bench-serve", None, 0.05, 2), ("ratios", None, None, None),
                     ("agent-traffic", 2, 0.0, None), ("bench-serve", None, 0.0, 2), ("ratios", None, None, None),
                     ("agent-traffic", 1, 0.05, None), ("bench-serve", None, 0.05, 1), ("ratios", None, None, None),
                     ("tool-calls", None, None, None), ("traffic-close", None, None, None)]
    rows = records(out / "results.jsonl")
    opened, closed, last = rows[0], rows[-1], rows[-3]["rows"]
    # 14B on 24 GiB: the bash scaffold's 50 steps reach 28,672 tokens; two such agents fit 58,013
    plan = opened["vram_plan"]
    assert (plan["recommended_workers"], plan["agent_context"]) == (2, 28_672)
    argv = opened["argv"]
    assert argv[argv.index("--max-num-seqs") + 1] == "2" and argv[argv.index("--max-model-len") + 1] == "28672"
    assert (out / "bench-serve-c2-no-commands.json").is_file()
    # the loop-overhead window is compared with vLLM's own at the same two streams (90 tok/s each here)
    alone = next(r for r in last if r["command_s"] == 0.0)
    assert alone["vllm_same_workers_tok_s"] == 180.0 and alone["ratio_same_workers"] > 0
    replayed = [r for r in rows if r["part"] == "agent-traffic"]
    assert all(r["step_limit"] == 50 and r["steps_per_instance"] <= 50 for r in replayed)
    assert 0 < alone["model_time_share"] <= 1.05
    calls = rows[-2]
    assert {calls[k]["status"] for k in ("named", "named_stream", "required")} == {200}
    assert closed["server_exit_code"] == 0 and closed["gpu_after_close_mib"] == 0


def test_traffic_skips_windows_past_its_budget_and_still_stops_the_server(gpu):
    out = gpu / "traffic"
    main(["traffic", "--models", str(gpu / "models"), "--preset", Q14, "--card", "24", "--out", str(out),
          "--launcher", str(STANDINS / "vllm"), "--seconds", "30", "--workers", "1,2", "--budget-s", "20"])
    parts = [r["part"] for r in records(out / "results.jsonl")]
    assert parts == ["traffic-open", "skipped", "skipped", "tool-calls", "traffic-close"]


@pytest.mark.parametrize("preset", ["gpt-oss-20b", "devstral-small-2-awq", "qwen2.5-coder-7b-awq",
                                    "qwen2.5-coder-14b-awq-fp8kv"])
def test_table_starts_each_new_preset_with_its_parsers_and_checks_them(gpu, preset):
    """A new preset's row, sized for a 24 GiB card: the server gets the preset's tool-call parser (and
    reasoning parser), the forced tool call comes back through it, and a reasoning model's reasoning
    comes back apart from its answer and counted as reasoning tokens, by vLLM and by ATLAS's backend."""
    from bench.gpu_server import load_preset

    out = gpu / "table"
    main(["table", "--models", str(gpu / "models"), "--preset", preset, "--card", "24", "--out", str(out),
          "--launcher", str(STANDINS / "vllm")])
    (row,) = [r for r in records(out / "results.jsonl") if r["part"] == "table"]
    server = load_preset(preset)["server"]
    argv = row["argv"]
    assert row["planner"]["fits"] and "start_error" not in row and row["exit_code"] == 0, row
    assert argv[argv.index("--tool-call-parser") + 1] == server["tool_call_parser"]
    assert row["tool_call"]["valid"], row["tool_call"]
    assert argv[argv.index("--kv-cache-dtype") + 1] == server.get("kv_cache_dtype", "auto")
    if server.get("reasoning_parser"):
        assert argv[argv.index("--reasoning-parser") + 1] == server["reasoning_parser"]
        check = row["reasoning"]  # vLLM 0.26 counts none in chat completions: ATLAS's backend counts them
        assert check["valid"] and check["separate"] and check["reasoning_tokens"] is None
        assert check["atlas_thinking_tokens"] > 0 and check["atlas_counted"] == "server /tokenize"
    else:
        assert "--reasoning-parser" not in argv and "reasoning" not in row
    structured = json.loads(argv[argv.index("--structured-outputs-config") + 1])
    assert structured["disable_any_whitespace"]
    assert structured.get("enable_in_reasoning", False) == (preset == "gpt-oss-20b")
    if preset == "gpt-oss-20b":  # the call written by the harmony tag, then what the renderer keeps of its reasoning
        assert row["tool_call"]["reasoning"] and row["tool_call"]["reasoning_tokens"] > 0
        assert row["tool_call_plain"]["reasoning_tokens"] is None
        assert row["tool_call_plain"]["valid"] and row["tool_call_plain"]["finish_reason"] == "tool_calls"
        assert row["next_turn"]["valid"] and row["next_turn"]["kept_behind_call_tokens"] > 0
        assert row["next_turn"]["kept_before_answer_tokens"] == 0
