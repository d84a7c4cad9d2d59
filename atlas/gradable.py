"""Can the installed harness grade these rows? Checked before any container starts.

swebench 5.x grades a row through `swebench.harness.utils.make_test_spec`, which reads the
columns it needs straight out of the row (a classic row without `image` ends in a raw
`KeyError` after the agent has already spent its compute). Rather than keep a copy of that
list, `required_columns` asks the installed harness: it runs `make_test_spec` on a row that
records every column it is asked for. The values it then uses by name are checked too: the
log parser must be one the harness has, the eval type one it knows, and the eval script must
bracket its test output with the markers grading reads. Classic rows reach here completed
(atlas.datasets); one that could not be completed is named with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from atlas.datasets import DatasetError, Instance

CONVERT_HINT = ("classic rows are completed on load where ATLAS knows the repository and version "
                "(atlas/data/swebench_eval_specs.json); give the rows named above their own "
                "image, log_parser, eval_type and eval_script columns, or drop them from the selection")


class _Recorder(dict):
    """A row that answers every column the harness asks for, and remembers which it lacked."""

    def __init__(self, row: dict):
        super().__init__(row)
        self.asked: list[str] = []
        self.missing: list[str] = []

    def __getitem__(self, key):
        self.asked.append(key)
        if key not in self or dict.__getitem__(self, key) is None:
            self.missing.append(key)
            return "[]"  # parses as JSON and as a script, so the probe runs to the end
        return dict.__getitem__(self, key)


def _probe(row: dict) -> _Recorder:
    from swebench.harness.utils import make_test_spec

    recorder = _Recorder(row)
    make_test_spec(recorder)
    return recorder


@cache
def required_columns() -> tuple[str, ...]:
    """The columns the installed harness's make_test_spec cannot do without, in the order it reads them."""
    return tuple(dict.fromkeys(_probe({}).asked))


def problems(row: dict) -> list[str]:
    """What stops the installed harness from grading this row (empty when it can)."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT, EvalType
    from swebench.harness.log_parsers import PARSER_REGISTRY

    try:
        recorder = _probe(row)
    except Exception as e:  # a present but malformed column (e.g. FAIL_TO_PASS that is not JSON)
        return [f"the harness cannot read the row: {type(e).__name__}: {e}"]
    found = []
    blank = [c for c in dict.fromkeys(recorder.asked) if c not in recorder.missing
             and isinstance(row.get(c), str) and not row[c].strip() and c not in ("FAIL_TO_PASS", "PASS_TO_PASS")]
    missing = list(dict.fromkeys(recorder.missing)) + blank
    if missing:
        found.append(f"missing columns: {', '.join(missing)}")
    parser = row.get("log_parser")
    if parser and parser not in PARSER_REGISTRY:
        found.append(f"log_parser {parser!r} is not one of the harness's parsers")
    eval_type = row.get("eval_type")
    if eval_type and eval_type not in {t.value for t in EvalType}:
        found.append(f"eval_type {eval_type!r} is not one of {', '.join(t.value for t in EvalType)}")
    script = row.get("eval_script")
    if isinstance(script, str) and script.strip():
        absent = [m for m in (START_TEST_OUTPUT, END_TEST_OUTPUT) if m not in script]
        if absent:
            found.append(f"eval_script lacks the marker(s) {', '.join(repr(m) for m in absent)} grading reads")
    return found


def check_gradable(instances: Iterable[Instance], origin: str) -> None:
    """Raise a DatasetError naming every row the installed harness cannot grade, and why."""
    bad = [(i.instance_id, found + ([f"not completed on load: {i.incomplete}"] if i.incomplete else []))
           for i in instances if (found := problems(i.row))]
    if not bad:
        return
    lines = [f"  {iid}: {'; '.join(found)}" for iid, found in bad[:20]]
    if len(bad) > 20:
        lines.append(f"  ... and {len(bad) - 20} more")
    from importlib.metadata import version

    raise DatasetError(
        f"{origin}: {len(bad)} selected instance(s) cannot be graded by the installed harness "
        f"(swebench {version('swebench')} needs the columns {', '.join(required_columns())}):\n"
        + "\n".join(lines) + f"\nNothing was run. Fix: {CONVERT_HINT}."
    )
