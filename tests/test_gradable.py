"""Rows the installed harness cannot grade are refused before any work; classic rows convert reliably."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from atlas.config import DatasetConfig
from atlas.dataset_convert import complete_row, convert_file
from atlas.datasets import BUNDLED_REAL, DatasetError, load_instances
from atlas.gradable import check_gradable, problems, required_columns
from tests.conftest import atlas, labeled_containers, read_jsonl

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLASSIC = BUNDLED_REAL.with_name("rows.classic.jsonl")
GRADING_COLUMNS = {"image", "eval_script", "log_parser", "eval_type"}


def classic_rows() -> list[dict]:
    return read_jsonl(CLASSIC)


def test_required_columns_come_from_the_installed_harness():
    from swebench.harness.utils import make_test_spec

    columns = required_columns()
    assert GRADING_COLUMNS <= set(columns)
    complete, _ = complete_row(classic_rows()[0])
    make_test_spec(complete)  # a complete row builds a test spec
    for column in columns:  # and each derived column is one it cannot do without
        with pytest.raises(KeyError):
            make_test_spec({k: v for k, v in complete.items() if k != column})


def test_classic_row_names_its_missing_columns():
    row = classic_rows()[0]
    found = problems(row)
    assert len(found) == 1 and found[0].startswith("missing columns:")
    assert set(found[0].removeprefix("missing columns: ").split(", ")) == GRADING_COLUMNS


def test_values_the_harness_looks_up_are_checked():
    row, _ = complete_row(classic_rows()[1])
    assert problems(row) == []
    assert "log_parser 'parse_log_nope'" in problems({**row, "log_parser": "parse_log_nope"})[0]
    assert "eval_type 'sometimes'" in problems({**row, "eval_type": "sometimes"})[0]
    no_markers = row["eval_script"].replace(">>>>> End Test Output", "end")
    assert "'>>>>> End Test Output'" in problems({**row, "eval_script": no_markers})[0]
    assert "eval_script" in problems({**row, "eval_script": "  "})[0]


def test_bundled_samples_and_real_rows_are_gradable():
    check_gradable(load_instances(DatasetConfig(name="sample", source="task_repo", path="bundled")), "bundled")
    check_gradable(load_instances(DatasetConfig(name="real", source="file", path="bundled-real")), "real")


def test_check_gradable_names_instances_columns_and_fix(tmp_path):
    """Classic rows are completed on load; one whose version has no known test command is named, with why."""
    rows = classic_rows()
    rows[0] = {**rows[0], "version": "0.1"}
    path = tmp_path / "classic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    instances = load_instances(DatasetConfig(name="f", source="file", path=str(path)))
    assert [bool(i.derived) for i in instances] == [False] + [True] * (len(rows) - 1)
    with pytest.raises(DatasetError) as caught:
        check_gradable(instances, str(path))
    message = " ".join(str(caught.value).split())
    assert "1 selected instance(s) cannot be graded" in message
    assert ("marshmallow-code__marshmallow-1343: missing columns: image, eval_script, log_parser, eval_type; "
            "not completed on load: no test command is known for marshmallow-code/marshmallow version '0.1'") in message
    assert "atlas/data/swebench_eval_specs.json" in message
    check_gradable(instances[1:], str(path))  # the completed rows pass


def test_convert_builds_the_official_eval_script():
    """marshmallow-1343's eval.sh as the official harness wrote it, byte for byte."""
    row, filled = complete_row(classic_rows()[0])
    assert filled == ["image", "log_parser", "eval_type", "eval_script"]
    assert row["eval_script"] == (FIXTURES / "marshmallow-code__marshmallow-1343.eval.sh").read_text()
    assert row["image"] == "swebench/sweb.eval.x86_64.marshmallow-code_1776_marshmallow-1343:latest"
    assert (row["log_parser"], row["eval_type"]) == ("parse_log_marshmallow", "pass_and_fail")
    astroid, _ = complete_row(classic_rows()[1])
    assert astroid["log_parser"] == "parse_log_astroid"
    assert "pytest -rA tests/unittest_python3.py\n" in astroid["eval_script"]
    assert "python -m pip install -e .\n" in astroid["eval_script"]


def test_convert_keeps_present_columns():
    row = {**classic_rows()[0], "image": "example.org/mine:1"}
    out, filled = complete_row(row)
    assert out["image"] == "example.org/mine:1" and "image" not in filled


def test_bundled_real_rows_are_the_convert_output(tmp_path):
    out = tmp_path / "real.jsonl"
    filled = convert_file(str(CLASSIC), out)
    assert set(filled) == {r["instance_id"] for r in classic_rows()}
    assert read_jsonl(out) == read_jsonl(BUNDLED_REAL)


def test_convert_refuses_rows_it_cannot_complete(tmp_path):
    rows = classic_rows()
    rows[0] = {**rows[0], "version": "0.1"}
    rows[1] = {**rows[1], "repo": "example/unknown"}
    rows[2] = {k: v for k, v in rows[2].items() if k != "base_commit"}
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    done = atlas("dataset", "convert", str(source), str(out))
    assert done.returncode == 2, done.stderr
    assert not out.exists()
    err = " ".join(done.stderr.split())
    assert f"3 of {len(rows)} row(s) cannot be completed" in err  # the others could be, but nothing is written
    assert "marshmallow-code__marshmallow-1343: no test command is known for marshmallow-code/marshmallow version '0.1'" in err
    assert "pylint-dev__astroid-1196: the installed harness has no log parser for repository example/unknown" in err
    assert "pylint-dev__astroid-1268: cannot be completed without the column(s) base_commit" in err
    assert atlas("dataset", "convert", str(CLASSIC), str(BUNDLED_REAL)).returncode == 2  # never overwrites


def test_run_refuses_rows_it_cannot_complete_before_any_container(tmp_path, docker_client):
    source = tmp_path / "classic.jsonl"
    rows = [{**r, "repo": "example/unknown"} if n == 1 else r for n, r in enumerate(classic_rows())]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = atlas("run", "dataset=file", f"dataset.path={source}", "model=gold", f"run.root={tmp_path}", "run.name=classic")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    err = " ".join(done.stderr.split())
    assert "1 selected instance(s) cannot be graded by the installed harness" in err
    assert ("pylint-dev__astroid-1196: missing columns: image, eval_script, log_parser, eval_type; not completed on "
            "load: the installed harness has no log parser for repository example/unknown") in err
    run_dir = tmp_path / "classic"
    assert not (run_dir / "instances").exists() and not (run_dir / "preds.jsonl").exists()
    assert labeled_containers(docker_client, run_dir) == []


def test_mirror_lookup_layouts_and_the_fix_when_missing(tmp_path, monkeypatch):
    from atlas.real_images import MirrorMissing, find_mirror

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ATLAS_GIT_MIRRORS", str(tmp_path / "mirrors"))
    with pytest.raises(MirrorMissing) as caught:
        find_mirror("pylint-dev/astroid")
    message = str(caught.value)
    assert "no git mirror of pylint-dev/astroid" in message
    assert f"git clone --mirror https://github.com/pylint-dev/astroid {tmp_path / 'mirrors' / 'pylint-dev+astroid'}" in message
    nested = tmp_path / "mirrors" / "pylint-dev" / "astroid.git"
    subprocess.run(["git", "init", "-q", "--bare", str(nested)], check=True)
    assert find_mirror("pylint-dev/astroid") == nested
    default = tmp_path / "home" / ".cache" / "atlas" / "git-mirrors" / "marshmallow-code+marshmallow"
    subprocess.run(["git", "init", "-q", "--bare", str(default)], check=True)
    assert find_mirror("marshmallow-code/marshmallow") == default


def test_export_testbed_is_the_real_commit_with_history_cut_there(tmp_path):
    from atlas.real_images import export_testbed

    source = tmp_path / "src"
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    commits = []
    for n in range(3):
        (source / "f.txt").write_text(f"{n}\n")
        subprocess.run([*git, "add", "f.txt"], check=True)
        subprocess.run([*git, "commit", "-qm", f"c{n}"], check=True)
        commits.append(subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip())
    mirror = tmp_path / "mirror"
    subprocess.run(["git", "clone", "-q", "--mirror", str(source), str(mirror)], check=True)
    export_testbed(mirror, commits[1], tmp_path / "testbed.tar")
    subprocess.run(["tar", "-C", str(tmp_path), "-xf", str(tmp_path / "testbed.tar")], check=True)
    testbed = tmp_path / "testbed"
    head = subprocess.run(["git", "-C", str(testbed), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert head == commits[1] and (testbed / "f.txt").read_text() == "1\n"
    log = subprocess.run(["git", "-C", str(testbed), "log", "--format=%H"], capture_output=True, text=True).stdout.split()
    assert log == [commits[1]]  # cut at the base commit: nothing after it (the fix) is in the image


def test_scm_version_is_what_setuptools_scm_gives_a_full_clone(tmp_path):
    """The testbed's cut history has no tags; the image pins the version the full clone would get."""
    from atlas.environments.docker import EnvError
    from atlas.real_images import scm_version

    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)

    def commit(n: int) -> str:
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"c{n}"], check=True)
        return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    untagged = commit(0)
    with pytest.raises(EnvError, match="no version tag below"):
        scm_version(repo, untagged)
    tagged = commit(1)
    subprocess.run([*git, "tag", "4.6.5"], check=True)
    two_after = [commit(n) for n in range(2, 5)][1]
    subprocess.run([*git, "tag", "v5.0.0"], check=True)  # on a later commit: not counted below it
    assert scm_version(repo, tagged) == "4.6.5"
    short = subprocess.run([*git, "rev-parse", "--short", two_after], capture_output=True, text=True).stdout.strip()
    assert scm_version(repo, two_after) == f"4.6.6.dev2+g{short}"  # next patch version, distance, node
    assert scm_version(repo, "HEAD") == "5.0.0"  # a leading v is dropped


def test_images_build_refuses_before_building_anything(tmp_path, docker_client):
    """No mirror, or a version with no stand-in environment: exit 2 naming the fix, and no image is touched."""
    env = {**os.environ, "HOME": str(tmp_path / "home"), "ATLAS_GIT_MIRRORS": str(tmp_path / "mirrors")}
    ids_before = {i.id for i in docker_client.images.list(filters={"label": "atlas.standin=1"})}
    done = atlas("images", "build", "--dataset", "bundled-real", "--force", env=env)
    assert done.returncode == 2, done.stderr
    err = " ".join(done.stderr.split())
    assert "no git mirror of" in err and "git clone --mirror https://github.com/" in err
    rows = [{**r, "version": "9.9"} for r in classic_rows()[:1]]
    source = tmp_path / "unknown.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = atlas("images", "build", "--dataset", str(source), "--force")
    assert done.returncode == 2, done.stderr
    err = " ".join(done.stderr.split())
    assert "marshmallow-code__marshmallow-1343: no stand-in environment for marshmallow-code/marshmallow version '9.9'" in err
    assert {i.id for i in docker_client.images.list(filters={"label": "atlas.standin=1"})} == ids_before
