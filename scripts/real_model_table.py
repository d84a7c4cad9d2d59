"""A real model through each scaffold: `atlas run model=smollm2-135m agent=X run.slice=:3`, one table per scaffold.

    .venv/bin/python scripts/real_model_table.py [--scaffolds bash,tools,mini,agentless] [--slice :3]
                                                 [--root runs/real-model-table] [--reuse] [-- extra overrides]

Each table lists, per instance, how it ended (status, grading outcome), steps, tokens and seconds
per step, then compares the tokens ATLAS metered (every recorded assistant turn, plus what empty
replies cost) with what llama-server's own log says it computed: prompt tokens evaluated (cache
hits excluded) and tokens generated. `--reuse` only re-reads run directories that exist. The
output is markdown, for docs/performance.md ("A real model through each scaffold").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atlas.models.llamacpp_server import logged_tokens  # noqa: E402

SCAFFOLDS = ("bash", "tools", "mini", "agentless")


def run(scaffold: str, root: Path, slice_: str, extra: list[str]) -> tuple[int, float]:
    """One `atlas run` (exit code, seconds); its console goes to <root>/<scaffold>.console.log."""
    root.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "atlas.cli", "run", "model=smollm2-135m", f"agent={scaffold}",
               f"run.slice={slice_}", f"run.root={root}", f"run.name={scaffold}", *extra]
    started = time.monotonic()
    with open(root / f"{scaffold}.console.log", "w") as console:
        code = subprocess.run(command, stdout=console, stderr=subprocess.STDOUT).returncode
    return code, time.monotonic() - started


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def metered(run_dir: Path) -> dict[str, int]:
    """Tokens ATLAS recorded for every request the server computed (empty replies included)."""
    totals = {"prompt_evaluated": 0, "generated": 0, "requests": 0}
    for path in run_dir.glob("instances/**/*trajectory*.jsonl"):
        for entry in _jsonl(path):
            if entry.get("role") != "assistant":
                continue
            usages = [entry["usage"], *([entry["empty_reply_usage"]] if entry.get("empty_reply_usage") else [])]
            for usage in usages:
                totals["prompt_evaluated"] += usage["prompt_tokens"] - usage["cached_prompt_tokens"]
                totals["generated"] += usage["completion_tokens"]
            totals["requests"] += 1 + entry.get("empty_replies", 0)
    return totals


def table(scaffold: str, run_dir: Path, code: int | None, seconds: float | None) -> str:
    statuses = [json.loads(p.read_text()) for p in sorted(run_dir.glob("instances/*/status.json"))]
    results_file = run_dir / "results.json"
    graded = json.loads(results_file.read_text())["instances"] if results_file.exists() else {}
    lines = [f"#### agent={scaffold}" + (f" (exit {code}, {seconds:.0f} s)" if code is not None else ""), "",
             "| instance | status | outcome | steps | prompt tokens | completion tokens | model s | s/step |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s in statuses:
        steps = s.get("steps", 0)
        per_step = f"{s['wall_seconds'] / steps:.1f}" if steps else "-"
        lines.append(f"| {s['instance_id']} | {s['status']} | {graded.get(s['instance_id'], {}).get('outcome', '-')} "
                     f"| {steps} | {s['usage']['prompt_tokens']:,} | {s['usage']['completion_tokens']:,} "
                     f"| {s['model_seconds']:.0f} | {per_step} |")
    ours = metered(run_dir)
    log = run_dir / "llama-server.log"
    server = logged_tokens(log.read_text(errors="replace")) if log.exists() else None
    lines.append("")
    if server is None:
        lines.append("server log: missing")
    else:
        same = all(ours[k] == server[k] for k in ours)
        lines.append(f"metered vs llama-server's log: prompt tokens evaluated {ours['prompt_evaluated']:,} vs "
                     f"{server['prompt_evaluated']:,}; generated {ours['generated']:,} vs {server['generated']:,}; "
                     f"requests {ours['requests']} vs {server['requests']} ({'equal' if same else 'DIFFERENT'})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaffolds", default=",".join(SCAFFOLDS))
    parser.add_argument("--slice", default=":3")
    parser.add_argument("--root", type=Path, default=Path("runs/real-model-table"))
    parser.add_argument("--reuse", action="store_true", help="only read run directories that exist")
    parser.add_argument("extra", nargs="*", help="more overrides for every run (after --)")
    args = parser.parse_args(argv)
    print(f"### A real model through each scaffold ({date.today().isoformat()}, model=smollm2-135m, "
          f"run.slice={args.slice})\n")
    for scaffold in args.scaffolds.split(","):
        code = seconds = None
        if not args.reuse:
            code, seconds = run(scaffold, args.root, args.slice, args.extra)
        run_dir = args.root / scaffold
        if not run_dir.exists():
            print(f"#### agent={scaffold}: no run directory (exit {code}); see {args.root}/{scaffold}.console.log\n")
            continue
        print(table(scaffold, run_dir, code, seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
