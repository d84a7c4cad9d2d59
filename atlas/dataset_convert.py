"""`atlas dataset convert`: complete classic SWE-bench rows into rows swebench 5.x can grade.

A classic row (instance_id, repo, base_commit, patch, test_patch, FAIL_TO_PASS, PASS_TO_PASS,
version, environment_setup_commit, ...) lacks what the 5.x harness grades with. Each missing
column is derived the way the harness derives it, or the row is refused:

- `image`: the official name, from the installed harness (`swebench.task.checks.expected_image`:
  `swebench/sweb.eval.x86_64.<id, __ as _1776_>:latest`).
- `log_parser`: the installed harness's parser for the repository (`MAP_REPO_TO_PARSER_PY`),
  by its name in `PARSER_REGISTRY`.
- `eval_type`: `fail_only` for the repositories the installed harness lists in
  `FAIL_ONLY_REPOS`, else `pass_and_fail`.
- `eval_script`: built as swebench 4.x built it (`make_eval_script_list_py`): activate the
  testbed env, reinstall, reset the test files, apply test_patch, run the repository's test
  command for that version on the files test_patch touches, between the output markers. The
  test command and install step come from `atlas/data/swebench_eval_specs.json`, the 4.x table.

A column the row already has is kept as it is. Nothing is guessed: a row whose repository or
version has no entry is refused, by name, and no file is written.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path

from unidiff import PatchSet

from atlas.errors import DatasetError
from atlas.names import UnsafeName, check_commit, check_name, check_repo

SPECS_FILE = Path(__file__).resolve().parent / "data" / "swebench_eval_specs.json"
CLASSIC_COLUMNS = ("instance_id", "repo", "version", "base_commit", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")
DERIVED_COLUMNS = ("image", "log_parser", "eval_type", "eval_script")
HEREDOC_DELIMITER = "EOF_114329324912"  # the harness's own delimiter
ENV_NAME, REPO_DIRECTORY = "testbed", "/testbed"


@cache
def eval_specs() -> dict:
    return json.loads(SPECS_FILE.read_text())


def log_parser_name(repo: str) -> str | None:
    """The registry name of the installed harness's parser for `repo`, or None if it has none."""
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(repo)
    if parser is None:
        return None
    names = [name for name, fn in PARSER_REGISTRY.items() if fn is parser]
    # several names share one function (parse_log_marshmallow is parse_log_pytest): take the one
    # named after the repository, as the published rows do
    repo_name = repo.split("/")[-1].replace("-", "_").lower()
    named = [n for n in names if n.removeprefix("parse_log_") in repo_name]
    return (named or names or [None])[0]


def eval_type(repo: str) -> str:
    from swebench.harness.constants import FAIL_ONLY_REPOS, EvalType

    return (EvalType.FAIL_ONLY if repo in FAIL_ONLY_REPOS else EvalType.PASS_AND_FAIL).value


def _modified_and_new(test_patch: str) -> tuple[list[str], list[str]]:
    modified, new = [], []
    for file in PatchSet(test_patch):
        if file.source_file == "/dev/null":
            new.append(file.target_file.removeprefix("b/"))
        elif file.source_file.startswith("a/"):
            modified.append(file.source_file[2:])
    return modified, new


def _test_directives(row: dict) -> list[str]:
    from swebench.harness.constants import NON_TEST_EXTS

    directives = re.findall(r"diff --git a/.* b/(.*)", row["test_patch"])
    directives = [d for d in directives if not any(d.endswith(ext) for ext in NON_TEST_EXTS)]
    if row["repo"] == "django/django":  # module paths, as Django's runner takes them
        def is_test(path: str) -> bool:
            name = path.rsplit("/", 1)[-1]
            return name == "tests.py" or name.startswith("test_") or "/tests/" in path or "/test_" in path

        directives = [d.removesuffix(".py").removeprefix("tests/").replace("/", ".") for d in directives if is_test(d)]
    return directives


def _quoted(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def eval_script(row: dict, spec: dict) -> str:
    """The eval script swebench 4.x wrote for this row, as one text (what 5.x rows carry)."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT

    # every value from the row reaches bash quoted: the commit and the paths test_patch names
    base = shlex.quote(row["base_commit"])
    modified, new = _modified_and_new(row["test_patch"])
    reset = (([f"git checkout {base} {_quoted(modified)}"] if modified else [])
             + ([f"rm -f {_quoted(new)}"] if new else []))
    commands = ["source /opt/miniconda3/bin/activate", f"conda activate {ENV_NAME}", f"cd {REPO_DIRECTORY}"]
    commands += spec.get("eval_commands", [])
    commands += [
        f"git config --global --add safe.directory {REPO_DIRECTORY}", f"cd {REPO_DIRECTORY}",
        "git status", "git show", f"git -c core.fileMode=false diff {base}",
        "source /opt/miniconda3/bin/activate", f"conda activate {ENV_NAME}",
    ]
    if "install" in spec:
        commands.append(spec["install"])
    commands += reset
    commands += [
        f"git apply -v - <<'{HEREDOC_DELIMITER}'\n{row['test_patch']}\n{HEREDOC_DELIMITER}",
        f": '{START_TEST_OUTPUT}'",
        " ".join([spec["test_cmd"], *map(shlex.quote, _test_directives(row))]),
        f": '{END_TEST_OUTPUT}'",
    ]
    commands += reset
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *commands]) + "\n"


def _has(row: dict, column: str) -> bool:
    value = row.get(column)
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def complete_row(row: dict) -> tuple[dict, list[str]]:
    """The row with every derivable column filled in, and the names filled; DatasetError if it cannot be."""
    from swebench.task.checks import expected_image

    name = row.get("instance_id") or "a row without instance_id"
    todo = [c for c in DERIVED_COLUMNS if not _has(row, c)]
    needed = [c for c in CLASSIC_COLUMNS if not _has(row, c) and (c != "test_patch" or "eval_script" in todo)]
    if needed:
        raise DatasetError(f"{name}: cannot be completed without the column(s) {', '.join(needed)}")
    try:  # the names reach paths and shells: the loader's own checks (atlas.names)
        check_name(str(row["instance_id"]), "instance_id")
        check_repo(str(row["repo"]))
        check_commit(str(row["base_commit"]), "base_commit")
        if _has(row, "environment_setup_commit"):
            check_commit(str(row["environment_setup_commit"]), "environment_setup_commit")
    except UnsafeName as e:
        raise DatasetError(f"{name}: {e}") from None
    if "eval_script" in todo and HEREDOC_DELIMITER in row["test_patch"]:
        raise DatasetError(f"{name}: test_patch contains the here-document delimiter {HEREDOC_DELIMITER}")
    out, version = dict(row), str(row["version"])
    if "image" in todo:
        out["image"] = expected_image(row["instance_id"])
    if "log_parser" in todo:
        parser = log_parser_name(row["repo"])
        if parser is None:
            raise DatasetError(f"{name}: the installed harness has no log parser for repository {row['repo']}")
        out["log_parser"] = parser
    if "eval_type" in todo:
        out["eval_type"] = eval_type(row["repo"])
    if "eval_script" in todo:
        spec = eval_specs().get(row["repo"], {}).get(version)
        if spec is None:
            known = ", ".join(sorted(eval_specs().get(row["repo"], {}))) or "none"
            raise DatasetError(f"{name}: no test command is known for {row['repo']} version {version!r} "
                               f"(versions known for this repository: {known})")
        out["eval_script"] = eval_script(row, spec)
    return out, todo


def convert_rows(rows: list[dict]) -> tuple[list[dict], dict[str, list[str]]]:
    """Every row completed, or a DatasetError naming each row that cannot be (all or nothing)."""
    done, filled, refused = [], {}, []
    for row in rows:
        try:
            out, todo = complete_row(row)
        except DatasetError as e:
            refused.append(str(e))
            continue
        done.append(out)
        filled[out["instance_id"]] = todo
    if refused:
        shown = "\n".join(f"  {r}" for r in refused[:20]) + (f"\n  ... and {len(refused) - 20} more" if len(refused) > 20 else "")
        raise DatasetError(f"{len(refused)} of {len(rows)} row(s) cannot be completed, so nothing was written:\n{shown}")
    return done, filled


def needs_completion(row: dict) -> bool:
    return not all(_has(row, c) for c in DERIVED_COLUMNS)


def complete_on_load(rows: list[dict]) -> tuple[list[dict], dict[str, list[str]], dict[str, str]]:
    """What a loader does with classic rows: each row that lacks a derived column is completed as
    `atlas dataset convert` completes it, and one that cannot be is left as it is, with the reason.

    Returns (the rows, the columns derived per instance id, why a row could not be completed per id).
    """
    done, derived, failed = [], {}, {}
    for row in rows:
        if not needs_completion(row):
            done.append(row)
            continue
        try:
            out, todo = complete_row(row)
        except DatasetError as e:
            failed[str(row.get("instance_id"))] = str(e).split(": ", 1)[-1]
            done.append(row)
            continue
        derived[out["instance_id"]] = todo
        done.append(out)
    return done, derived, failed


def convert_file(source: str, out: Path, split: str = "test") -> dict[str, list[str]]:
    """Read rows (a .json/.jsonl/.parquet file or a HuggingFace dataset), write completed rows to `out` (.jsonl)."""
    from swebench.harness.utils import load_swebench_dataset

    if out.suffix != ".jsonl":
        raise DatasetError(f"{out}: the output must be a new .jsonl file")
    if out.exists():
        raise DatasetError(f"{out} already exists: name a new file (convert never overwrites)")
    if Path(source).suffix in (".json", ".jsonl", ".parquet") and not Path(source).is_file():
        raise DatasetError(f"{source} does not exist")
    try:
        rows = [dict(r) for r in load_swebench_dataset(source, split)]
    except Exception as e:
        raise DatasetError(f"could not read {source!r} (split {split!r}): {e}") from e
    if not rows:
        raise DatasetError(f"{source} has no rows")
    done, filled = convert_rows(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in done), encoding="utf-8")
    return filled
