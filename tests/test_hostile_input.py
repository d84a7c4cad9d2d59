"""Hostile dataset rows and overrides: refused by name before any container, never a path outside the run
folder, never a shell command; exit codes as the README's table says; messages printed literally.

Runs the real `atlas` command (and a real container for the quoting of `git diff`).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from atlas.config import DatasetConfig
from atlas.dataset_convert import complete_row
from atlas.datasets import DatasetError, load_instances
from atlas.errors import BAD_INPUT, INFRA_FAILURES, print_error
from atlas.names import UnsafeName, safe_join
from tests.conftest import REPO_ROOT, atlas, read_jsonl

CLASSIC_ROWS = REPO_ROOT / "atlas" / "standins" / "rows.classic.jsonl"
COMPLETE_ROWS = REPO_ROOT / "atlas" / "standins" / "instances.jsonl"
INJECTION = "echo INJ > /testbed/zz_injected.txt; HEAD"


def hostile_file(folder: Path, source: Path = COMPLETE_ROWS, **changes) -> Path:
    """One real row of `source` with `changes` applied, as a .jsonl dataset file."""
    row = {**read_jsonl(source)[0], **changes}
    path = folder / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("instance_id", ["../../escape__x-1", "acme/widgets-1"])
def test_an_id_that_is_a_path_is_refused_and_nothing_is_written(tmp_path, instance_id):
    (tmp_path / "data").mkdir()
    dataset = hostile_file(tmp_path / "data", instance_id=instance_id)
    done = atlas("run", "dataset=file", f"dataset.path={dataset}", "model=gold", f"run.root={tmp_path / 'runs'}",
                 timeout=300)
    assert done.returncode == BAD_INPUT, done.stderr[-2000:]
    assert f"instance {instance_id}: field 'instance_id'" in done.stderr and "not a safe name" in done.stderr
    assert files_under(tmp_path) == {"data/rows.jsonl"}  # no status.json, patch.diff or trajectory anywhere


def test_a_base_commit_that_is_a_command_is_refused(tmp_path):
    dataset = hostile_file(tmp_path, base_commit=INJECTION)
    done = atlas("run", "dataset=file", f"dataset.path={dataset}", "model=gold", f"run.root={tmp_path / 'runs'}",
                 timeout=300)
    assert done.returncode == BAD_INPUT, done.stderr[-2000:]
    assert "field 'base_commit'" in done.stderr and f"{INJECTION!r} is not a commit id" in done.stderr


@pytest.mark.parametrize("field, value", [("repo", "../evil"), ("repo", "owner/name/extra"),
                                          ("environment_setup_commit", "$(reboot)"), ("instance_id", "..")])
def test_each_unsafe_field_is_named(tmp_path, field, value):
    path = hostile_file(tmp_path, **{field: value})
    with pytest.raises(DatasetError, match=f"field '{field}'"):
        load_instances(DatasetConfig(name="f", source="file", path=str(path)))


def test_safe_join_never_leaves_its_root(tmp_path):
    assert safe_join(tmp_path, "django__django-11099") == tmp_path.resolve() / "django__django-11099"
    for name in ("..", "../x", "a/b", "/etc", "", ".hidden"):
        with pytest.raises(UnsafeName):
            safe_join(tmp_path, name)


def test_dataset_convert_refuses_an_injected_commit_and_writes_nothing(tmp_path):
    source = hostile_file(tmp_path, CLASSIC_ROWS, base_commit=INJECTION)
    out = tmp_path / "out.jsonl"
    done = atlas("dataset", "convert", str(source), str(out), timeout=300)
    assert done.returncode == BAD_INPUT, done.stderr[-2000:]
    assert "base_commit" in done.stderr and "not a commit id" in done.stderr
    assert not out.exists()


def test_dataset_convert_quotes_the_paths_test_patch_names():
    row = read_jsonl(CLASSIC_ROWS)[0]
    hostile = "tests/$(touch pwned).py"
    row["test_patch"] = (f"diff --git a/{hostile} b/{hostile}\nnew file mode 100644\n--- /dev/null\n"
                         f"+++ b/{hostile}\n@@ -0,0 +1 @@\n+def test_x(): pass\n")
    script = complete_row(row)[0]["eval_script"]
    removals = [line for line in script.splitlines() if line.startswith("rm -f")]
    assert removals and all(shlex.split(line) == ["rm", "-f", hostile] for line in removals)
    test_line = next(line for line in script.splitlines() if line.startswith("pytest"))
    assert shlex.split(test_line)[-1] == hostile  # one quoted argument, not a command substitution


def test_diff_passes_the_commit_to_git_as_one_argument(docker_client):
    """A commit that is a command reaches git as an argument (git refuses it), never bash as code."""
    from atlas.config import EnvConfig
    from atlas.environments import DockerEnvironment, EnvError
    from atlas.images import BASE_IMAGE, build_base_image

    build_base_image(docker_client)
    labels = {"atlas.run_dir": "/tests/hostile", "atlas.instance": "hostile-diff"}
    with DockerEnvironment(BASE_IMAGE, EnvConfig(workdir="/repo"), labels, docker_client) as env:
        setup = env.execute("mkdir -p /repo && cd /repo && git init -q && git -c user.name=a -c user.email=a@b "
                            "commit -q --allow-empty -m base && git rev-parse HEAD", timeout=60)
        assert setup.exit_code == 0, setup.output
        with pytest.raises(EnvError, match="could not extract the patch"):
            env.diff("HEAD; touch /repo/zz_injected.txt")
        assert env.execute("test -e /repo/zz_injected.txt", timeout=30).exit_code == 1
        assert env.diff(setup.output.split()[-1]) == ""  # a real commit still works


# ---------------------------------------------------------------- exits and messages


def test_a_sweep_gets_the_pre_checks_of_a_single_run(tmp_path):
    root = f"run.root={tmp_path / 'runs'}"
    single = atlas("run", "model=gold", "run.workrs=2", root, timeout=300)
    sweep = atlas("run", "-m", "model=gold,empty", "run.workrs=2", root, timeout=300)
    globbed = atlas("run", "-m", "model=glob(gol*)", "run.workrs=2", root, timeout=300)  # a group's options
    for done in (single, sweep, globbed):
        assert done.returncode == BAD_INPUT, done.stderr[-2000:]
        assert "run.workrs: unknown key (did you mean 'workers'?)" in done.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    sweep = atlas("run", "-m", "model=gold,empty", f"run.root={blocked}", timeout=300)
    assert sweep.returncode == BAD_INPUT and f"cannot create or write the run directory {blocked}" in sweep.stderr
    assert not (tmp_path / "runs").exists()


def test_an_unreachable_docker_engine_is_an_infrastructure_failure(tmp_path):
    import os

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    done = atlas("images", "build", "--base-only", env=env, timeout=120)
    assert done.returncode == INFRA_FAILURES, done.stderr[-2000:]
    assert "cannot reach a Docker engine" in done.stderr


def test_messages_print_square_brackets_literally(tmp_path, capsys):
    print_error("install vLLM: pip install 'atlas-swe[vllm]' ([bold]not markup[/bold])")
    assert "pip install 'atlas-swe[vllm]' ([bold]not markup[/bold])" in capsys.readouterr().err
    dataset = hostile_file(tmp_path, instance_id="acme__x[vllm]-1")
    done = atlas("run", "dataset=file", f"dataset.path={dataset}", f"run.root={tmp_path / 'runs'}", timeout=300)
    assert done.returncode == BAD_INPUT and "instance_id 'acme__x[vllm]-1' is not a safe name" in done.stderr
    done = atlas("[red]nope[/red]", timeout=60)
    assert done.returncode == BAD_INPUT and "unknown command '[red]nope[/red]'" in done.stderr
