"""Do ATLAS's reply parsers take the action the original harness took, on real replies of open models?

    python -m bench.parser_agreement                 # the fixture (tests/fixtures/real_replies/*.jsonl)
    python -m bench.parser_agreement all.jsonl ...   # any files of the same rows (build.py writes them)

Each row is one real assistant reply with its protocol, its model family and its source.
Per protocol, ATLAS's parser for it:
- `swe-agent-thought-action` (SWE-agent 0.x: the action is the last ``` block of the reply):
  the last block of `agents.replies.fenced_blocks`, compared with the action SWE-agent recorded
  (surrounding whitespace ignored). The bash scaffold's own reading of the same reply is
  counted beside it: these replies use untagged fences, which it names `wrong_fence_language`.
- `tool-calls-in-content` (calls a server or agent left in the text; rows from issue reports):
  `agents.replies.content_tool_calls`, compared with the calls the reporter expected (XML
  parameters are text, so values are compared as text).
Prints a table per protocol and family and every disagreement; exits 1 below the goal.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from atlas.agents.bash.reply import parse_action
from atlas.agents.replies import ReplyFormatError, content_tool_calls, fenced_blocks

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real_replies"
GOAL = 0.99


@dataclass
class Verdict:
    agrees: bool
    got: Any
    expected: Any


def last_block(row: dict[str, Any]) -> Verdict:
    blocks = fenced_blocks(row["reply"])
    got = blocks[-1].body.strip() if blocks else None
    expected = row["harness_action"].strip()
    return Verdict(got == expected, got, expected)


def _as_text(arguments: dict[str, Any]) -> dict[str, str]:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in arguments.items()}


def calls_in_content(row: dict[str, Any]) -> Verdict:
    got = [{"name": c.name, "arguments": _as_text(c.arguments)} for c in content_tool_calls(row["reply"])]
    expected = [{"name": c["name"], "arguments": _as_text(c["arguments"])} for c in row["expected_calls"]]
    return Verdict(got == expected, got, expected)


PARSERS: dict[str, tuple[str, Callable[[dict[str, Any]], Verdict]]] = {
    "swe-agent-thought-action": ("agents.replies.fenced_blocks (last block)", last_block),
    "tool-calls-in-content": ("agents.replies.content_tool_calls", calls_in_content),
}


def bash_scaffold_reading(reply: str) -> str:
    """What the bash scaffold would do with the reply: `run` or the format error's kind."""
    try:
        parse_action(reply)
    except ReplyFormatError as e:
        return e.kind
    return "run"


def load(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def measure(rows: list[dict[str, Any]]) -> tuple[dict[tuple[str, str], list[int]], list[tuple[dict, Verdict]],
                                                  dict[str, dict[str, int]]]:
    """(agree, total) per (protocol, family); the disagreements; the bash scaffold's reading per protocol."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    disagreements, bash = [], defaultdict(lambda: defaultdict(int))
    for row in rows:
        verdict = PARSERS[row["protocol"]][1](row)
        cell = counts[(row["protocol"], row["family"])]
        cell[0] += verdict.agrees
        cell[1] += 1
        if not verdict.agrees:
            disagreements.append((row, verdict))
        bash[row["protocol"]][bash_scaffold_reading(row["reply"])] += 1
    return counts, disagreements, bash


def table(counts: dict[tuple[str, str], list[int]]) -> str:
    lines = ["| protocol | ATLAS parser | family | replies | agree | rate |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for (protocol, family), (agree, total) in sorted(counts.items()):
        lines.append(f"| {protocol} | {PARSERS[protocol][0]} | {family} | {total} | {agree} | {agree / total:.1%} |")
    for protocol in sorted({p for p, _ in counts}):
        agree = sum(a for (p, _), (a, _t) in counts.items() if p == protocol)
        total = sum(t for (p, _), (_a, t) in counts.items() if p == protocol)
        lines.append(f"| {protocol} | all | all | {total} | {agree} | {agree / total:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    paths = [Path(a) for a in args] or sorted(FIXTURES.glob("*.jsonl"))
    counts, disagreements, bash = measure(load(paths))
    print(table(counts))
    for protocol, readings in sorted(bash.items()):
        print(f"bash scaffold on {protocol} replies: " + ", ".join(f"{k} {v}" for k, v in sorted(readings.items())))
    for row, verdict in disagreements:
        print(f"DISAGREES {row['family']} {json.dumps(row['source'])}: "
              f"ATLAS {verdict.got!r}, harness {verdict.expected!r}")
    rates = [agree / total for agree, total in counts.values()]
    return 0 if rates and min(rates) >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
