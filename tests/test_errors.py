"""Exit codes and errors a script can trust: expected failures name the file or key, bugs keep their traceback."""

from __future__ import annotations

import sys

import pytest

from atlas import errors
from atlas.errors import report_errors
from atlas.config import ConfigError
from tests.conftest import atlas


def test_bad_input_exits_2_and_bugs_propagate():
    with pytest.raises(SystemExit) as stop, report_errors():
        raise ConfigError("model.x: unknown key")
    assert stop.value.code == errors.BAD_INPUT
    for bug in (ValueError("invalid literal"), KeyError("x"), TypeError("y")):  # a bug is never "bad input"
        with pytest.raises(type(bug)), report_errors():
            raise bug


def test_an_unexpected_error_keeps_its_traceback_and_exits_1(tmp_path):
    code = ("import atlas.cli as cli\n"
            "def broken(args): raise ValueError('a bug, not bad input')\n"
            "cli.report_command = broken\n"
            "cli.main(['report', '.'])\n")
    done = atlas_python(code, tmp_path)
    assert done.returncode == errors.UNEXPECTED
    assert "Traceback" in done.stderr and "ValueError: a bug, not bad input" in done.stderr


def atlas_python(code: str, cwd):
    import subprocess

    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_corrupt_manifest_is_reported_with_its_path(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text('{"config": "a\x01b"}')
    done = atlas("evaluate", str(run_dir))
    assert done.returncode == errors.BAD_INPUT, done.stderr
    assert str(run_dir / "manifest.json") in done.stderr and "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_resuming_a_run_with_a_corrupt_manifest_names_it(docker_client, tmp_path):
    run_dir = tmp_path / "sample.gold.bash"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{truncated")
    done = atlas("run", "model=gold", f"run.root={tmp_path}", "run.evaluate=false")
    assert done.returncode == errors.BAD_INPUT, done.stderr
    assert f"{run_dir / 'manifest.json'} is not valid JSON" in done.stderr.replace("\n", "")
    assert sorted(p.name for p in run_dir.iterdir()) == [".atlas.lock", "manifest.json"]


@pytest.mark.parametrize("where", ["file", "read-only"])
def test_unwritable_run_directory_is_named(tmp_path, where):
    if where == "file":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        root = blocker / "runs"
    else:
        root = tmp_path / "ro"
        root.mkdir()
        root.chmod(0o555)
        if atlas_python(f"open({str(root / 'x')!r}, 'w')", tmp_path).returncode == 0:
            pytest.skip("running as root: a mode-0555 folder is writable")
    done = atlas("run", "model=gold", f"run.root={root}")
    assert done.returncode == errors.BAD_INPUT, done.stderr
    assert f"{root}/sample.gold.bash" in done.stderr and "run.root" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failed_model_server_leaves_no_manifest_or_predictions(docker_client, tmp_path):
    done = atlas("run", "model=qwen2.5-coder-14b-awq", "model.server.command=['false']", "model.server.max_model_len=8192",
                 f"run.root={tmp_path}", "run.evaluate=false")
    assert done.returncode in (errors.BAD_INPUT, errors.INFRA_FAILURES), done.stderr
    assert "vllm serve exited with code 1" in done.stderr
    run_dir = tmp_path / "sample.qwen2.5-coder-14b-awq.bash"
    assert not (run_dir / "manifest.json").exists() and not (run_dir / "preds.jsonl").exists()
    assert (run_dir / "vllm.log").is_file()  # the server's own log stays, to say why


def test_a_missing_dataset_file_is_refused_before_anything_is_written(tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    done = atlas("run", "dataset=file", f"dataset.path={missing}", f"run.root={tmp_path / 'runs'}")
    assert done.returncode == errors.BAD_INPUT, done.stderr
    assert str(missing) in done.stderr
    assert [p for p in (tmp_path / "runs").rglob("*") if p.is_file()] == []  # Hydra's empty folder at most
