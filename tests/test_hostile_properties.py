"""Property-based: random and hostile dataset rows and overrides end in exit 0 or 2, never a crash, and
nothing is written outside the run root.

Each example goes through what `atlas run` does before any container starts, in process: the
override pre-checks (atlas.app.precheck, as for a single run and for a sweep member), then the loader,
the selection and the gradability check (the first lines of atlas.runner.run), under the CLI's own
atlas.errors.report_errors. Every accepted row then has its status.json and patch.diff written through
RunDir, as a finished instance would.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from atlas.app import precheck, resolve
from atlas.datasets import load_instances, select
from atlas.errors import BAD_INPUT, OK, report_errors
from atlas.gradable import check_gradable
from atlas.overrides import compose_config
from atlas.records import InstanceResult, Status
from atlas.rundir import RunDir
from tests.conftest import REPO_ROOT, read_jsonl

REAL_ROW = read_jsonl(REPO_ROOT / "atlas" / "standins" / "instances.jsonl")[0]
HOSTILE_TEXT = ["../../escape__x-1", "..", "/etc/passwd", "a/b", "x; touch /tmp/pwned", "$(id)", "`id`", "a b",
                "[bold]x[/]", "\x00", "-rf", "~", "%s", "${oc.env:HOME}", "'", '"', "\\", "é", ""]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(min_size=0, max_size=20),
                 st.text(alphabet=string.ascii_letters + string.digits + "_.-/", min_size=1, max_size=30))
hexes = st.text(alphabet="0123456789abcdef", min_size=1, max_size=45)
row_changes = st.dictionaries(
    st.sampled_from(["instance_id", "repo", "base_commit", "environment_setup_commit", "version", "FAIL_TO_PASS",
                     "image", "eval_script", "log_parser", "problem_statement"]),
    st.one_of(text, hexes, st.none(), st.integers(), st.lists(text, max_size=2)), max_size=4)
override = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["run.name", "run.sweep", "run.slice", "run.instance_regex",
                                                        "run.workers", "model", "agent", "run.instance_ids",
                                                        "model.tempreature", "run.timeout"]), text),
    text)


def outcome(overrides: list[str], rows: list, folder: Path, sweep: bool) -> int:
    """The exit status `atlas run` would give before any container, and the rows' files written."""
    dataset = folder / "rows.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    full = [*overrides, "dataset=file", f"dataset.path={dataset}", "model=gold", f"run.root={folder / 'runs'}"]
    try:
        with report_errors():
            precheck(full, sweep=sweep)
            config = resolve(compose_config(full))
            instances = select(load_instances(config.dataset), config.run)
            check_gradable(instances, str(dataset))
            run_dir = RunDir(folder / "runs" / config.run.name)
            for instance in instances:
                run_dir.write_result(InstanceResult(instance_id=instance.instance_id, status=Status.SUBMITTED,
                                                    attempts=1), "diff --git a/x b/x\n")
    except SystemExit as e:
        return e.code
    return OK


def files_outside_runs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name != "rows.jsonl" and "runs" not in p.relative_to(folder).parts)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="atlas-hostile-") as tmp:
        yield Path(tmp)


@SETTINGS
@given(changes=st.lists(row_changes, min_size=1, max_size=3), overrides=st.lists(override, max_size=3),
       sweep=st.booleans())
def test_hostile_rows_and_overrides_end_in_ok_or_bad_input(scratch, changes, overrides, sweep):
    folder = Path(tempfile.mkdtemp(dir=scratch))
    rows = [{k: v for k, v in {**REAL_ROW, **change}.items() if v is not None} for change in changes]
    code = outcome(overrides, rows, folder, sweep)
    event(f"exit {code}")
    assert code in (OK, BAD_INPUT)
    assert files_outside_runs(folder) == []
    if code == OK:  # what was accepted is a real, unique, safe instance folder under the run root
        written = {p.parent.name for p in (folder / "runs").rglob("status.json")}
        assert written and all((folder / "runs").resolve() in p.resolve().parents
                               for p in (folder / "runs").rglob("*"))


def test_the_unchanged_row_is_accepted(tmp_path):
    """The property is not vacuous: a real row with no change passes and writes its files under the run root."""
    assert outcome([], [REAL_ROW], tmp_path, sweep=False) == OK
    assert (tmp_path / "runs" / "file.gold.bash" / "instances" / REAL_ROW["instance_id"] / "status.json").is_file()
