"""vLLM on a real GPU, with dummy weights: the planner against what vLLM holds, ATLAS's managed server, agent traffic.

    python -m bench.gpu_bench table --models models/ --preset P [--preset Q ...] --card 12 --card 16 --card 24 --out DIR
    python -m bench.gpu_bench traffic --models models/ --preset P --card 24 --out DIR [--workers 1,2,4,8] [--loop-overhead]

Model folders come from `python -m bench.gpu_models` (each preset's config.json and a local
tokenizer); `--load-format dummy` gives the real memory footprint and speed without weights.
Both commands start the server through ATLAS's own VLLMModel, sized by the planner for the
card: --kv-cache-memory-bytes pins the KV cache to the plan, so a smaller card is emulated on
the large one by what the process may hold, and nvidia-smi says whether it stayed inside.

`table` (bench/gpu_table.py): every preset x card, planner against vLLM's log and the process's
memory, several servers at once. `traffic`: one preset and card; ATLAS's bash scaffold replays
agent traffic at each worker count (bench/agent_replay.py), `vllm bench serve` runs the same
shape on the same server, then the server is stopped and the GPU memory checked.
Results are JSON lines in --out/results.jsonl, each server's log beside them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.gpu_server import gpu_total_gib, gpu_used_mib, managed_model, process_mib
from bench.gpu_table import overheads_from, preset_values, raw_tool_calls, table
from bench.vllm_log import parse_log

def traffic(options: argparse.Namespace, emit) -> None:
    """ATLAS's managed server for one preset and card: start, agent traffic at each worker count, vLLM's own, stop."""
    from bench.agent_replay import bench_serve, ratios, replay  # imports atlas.agents: after require_full_atlas

    out = Path(options.out)
    model_dir = Path(options.models) / options.preset[0]
    card = (options.card or [24])[0]
    overheads = overheads_from(options)
    idle = gpu_used_mib()
    model = managed_model(options.launcher, model_dir, options.preset[0], card, gpu_total_gib(),
                          extra_body={"ignore_eos": True}, overhead_gib=overheads.get(options.preset[0]),
                          max_tokens=options.max_tokens, step_limit=options.step_limit,
                          utilization=preset_values(options.utilization).get(options.preset[0]))
    run_dir = out / "traffic"
    run_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    model.open(run_dir)
    described = model.describe()
    recommended = described["vram_plan"]["recommended_workers"]
    emit({"part": "traffic-open", "preset": options.preset[0], "card_gib": card, "overhead_gib": overheads, "open_s": round(time.monotonic() - began, 1),
          "process_mib": process_mib(model.server.process.pid), "argv": described["managed_server"]["argv"],
          "vram_plan": described["vram_plan"], "context_window": model.context_window, "sampling": described["sampling"],
          "vllm_log": parse_log((run_dir / "vllm.log").read_text(errors="replace"))})
    # The recommended count first, then (with --loop-overhead) the same count with no command time,
    # the direct measure of ATLAS's own loop; then the other counts. A window the budget cannot
    # hold is skipped, and the ratios are written after every window, so a cut run keeps them.
    counts = sorted({*options.workers, recommended}, key=lambda w: (w != recommended, w))
    windows = [(counts[0], options.command_s)] + ([(recommended, 0.0)] if options.loop_overhead else [])
    windows += [(count, options.command_s) for count in counts[1:]]
    replays, serves = [], []
    deadline = began + options.budget_s
    for count, command_s in windows:
        if time.monotonic() + options.seconds + options.warmup + serve_estimate_s(serves, count) > deadline:
            emit({"part": "skipped", "workers": count, "command_s": command_s,
                  "why": f"--budget-s {options.budget_s} would be exceeded"})
            continue
        result = replay(model, model.server.base_url, count, options.seconds, options.warmup, command_s,
                        options.observation_bytes, options.prompt_tokens, seed=len(replays),
                        memory=lambda: process_mib(model.server.process.pid), step_limit=options.step_limit)
        replays.append(result)
        emit({"part": "agent-traffic", "preset": options.preset[0], "card_gib": card, "max_tokens": options.max_tokens,
              "recommended_workers": recommended, **result})
        # vLLM's own at this concurrency and shape: once per concurrency, and again for the window
        # without command time, whose histories differ (it is the ratio that judges ATLAS's loop)
        serve = None
        if command_s == 0 or all(s is None or s["concurrency"] != count for s in serves):
            serve = bench_serve(options.launcher, model.server.base_url, model.settings.model, model_dir, out, count,
                                result["mean_prompt_tokens"] or options.prompt_tokens,
                                result["turn_growth_tokens"] or 500, options.max_tokens,
                                name=f"bench-serve-c{count}" + ("-no-commands" if command_s == 0 else ""))
            emit({"part": "bench-serve", "preset": options.preset[0], "card_gib": card, "command_s": command_s, **serve})
        serves.append(serve)
        emit({"part": "ratios", "preset": options.preset[0], "card_gib": card, "recommended_workers": recommended,
              "rows": ratios(replays, serves)})
    emit({"part": "tool-calls", "preset": options.preset[0], **raw_tool_calls(model.server.base_url, model.settings.model)})
    stopping = time.monotonic()
    model.close()
    stopped = time.monotonic() - stopping
    time.sleep(2)
    emit({"part": "traffic-close", "preset": options.preset[0], "close_s": round(stopped, 1),
          "gpu_after_close_mib": gpu_used_mib(), "gpu_idle_mib": idle, "server_exit_code": model.server.process.returncode})


def serve_estimate_s(serves: list[dict | None], concurrency: int) -> float:
    """Seconds `vllm bench serve` may take at `concurrency`: the longest earlier run, scaled by concurrency.

    Past the recommended workers vLLM's own run thrashes the cache as the agents do (its prompts
    are sent `concurrency` x 10 times), so its time grows with the concurrency; 40 s before any ran."""
    ran = [s for s in serves if s and s.get("duration")]
    if not ran:
        return 40.0
    return max(40.0, max(s["duration"] * concurrency / s["concurrency"] for s in ran))


def require_full_atlas() -> None:
    """Stop early when `atlas` is a plain checkout: agents/ and harness/ join it only when installed."""
    try:
        import atlas.agents  # noqa: F401
    except ModuleNotFoundError:
        import atlas
        raise SystemExit(f"atlas is imported from {Path(atlas.__file__).parent}, a checkout without atlas.agents. Install "
                         "ATLAS (pip install -e ., or its wheel with --target DIR on PYTHONPATH) and run the bench with "
                         "`python3 -P -m bench.gpu_bench` so the checkout's atlas/ folder does not shadow it") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["table", "traffic"])
    parser.add_argument("--models", required=True, help="folder of model folders (bench.gpu_models)")
    parser.add_argument("--preset", action="append", required=True)
    parser.add_argument("--card", type=float, action="append", help="card size(s) in GiB (table: default 12, 16, 24, 32)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--launcher", default="vllm", help="the vllm command (default: vllm on PATH)")
    parser.add_argument("--overhead", action="append", default=[], metavar="PRESET=GIB",
                        help="gpu.overhead_gib for one preset instead of its measured architecture.overhead_gib")
    parser.add_argument("--utilization", action="append", default=[], metavar="PRESET=SHARE",
                        help="gpu.gpu_memory_utilization for one preset's rows (a card with nothing else on it: 0.95)")
    parser.add_argument("--fit-from", help="an earlier table's results.jsonl: each preset's overhead fitted to what "
                        "its servers held (atlas.planner.fit_overhead)")
    parser.add_argument("--skip-unfit", action="store_true", help="table: start only the rows the planner says fit")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=45, help="traffic: measured window per worker count")
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--command-s", type=float, default=1.0, help="mean seconds a stub command takes")
    parser.add_argument("--observation-bytes", type=int, default=500, help="bytes a command prints (with a 150-token "
                        "answer, a step adds about the 1,050 characters of real trajectories: agent_replay.REAL_STEP_CHARS)")
    parser.add_argument("--prompt-tokens", type=int, default=4000, help="an episode's first prompt (system + issue)")
    parser.add_argument("--max-tokens", type=int, default=150, help="tokens per model turn (ignore_eos)")
    parser.add_argument("--step-limit", type=int, default=50, help="the scaffold's step limit: sizes the plan's agent "
                        "context and ends every replayed episode (default: the bash scaffold's 50)")
    parser.add_argument("--budget-s", type=float, default=480, help="traffic: skip windows that would end later than "
                        "this many seconds after the start began (the server is always stopped)")
    parser.add_argument("--loop-overhead", action="store_true", help="traffic: also the recommended workers with no "
                        "command time, against vLLM at that concurrency")
    options = parser.parse_args(argv)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"

    def emit(record: dict) -> None:
        record = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
        with open(results, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record)[:2000], flush=True)

    require_full_atlas()
    if options.command == "table":
        table(options, emit)
    else:
        traffic(options, emit)


if __name__ == "__main__":
    main()
