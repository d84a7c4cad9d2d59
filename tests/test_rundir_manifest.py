"""Run-directory bookkeeping (atomic writes, lock, predictions) and the manifest's drift and redaction rules."""

import json
import os

import pytest

from atlas.config import validate
from atlas.manifest import drift, fingerprint
from atlas.redaction import Redactor, redact
from atlas.records import InstanceResult, Status
from atlas.rundir import RunDir, RunLocked, atomic_write_text


def result(instance_id, status=Status.SUBMITTED, submitted=True):
    return InstanceResult(instance_id=instance_id, status=status, attempts=1, submitted_patch=submitted)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "status.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["status.json"]


def test_second_lock_on_a_run_is_refused(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    with run_dir.lock():
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            with RunDir(tmp_path / "run").lock():
                pass
    with run_dir.lock():  # released on exit
        pass


def test_predictions_are_rebuilt_without_duplicates(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.write_result(result("a__b-1"), "diff --git a/x b/x\n")
    run_dir.write_result(result("a__b-2", Status.STEP_LIMIT, submitted=False), "diff --git a/y b/y\n")
    run_dir.append_prediction("m", result("a__b-1"))
    run_dir.append_prediction("m", result("a__b-1"))
    run_dir.predictions.write_text(run_dir.predictions.read_text() + '{"instance_id": "torn')
    assert run_dir.write_predictions("m") == 2
    lines = [json.loads(line) for line in run_dir.predictions.read_text().splitlines()]
    assert lines == [
        {"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": "diff --git a/x b/x\n"},
        {"instance_id": "a__b-2", "model_name_or_path": "m", "model_patch": ""},  # not submitted: no patch
    ]
    assert run_dir.write_predictions("m", exclude={"a__b-1"}) == 1


def test_attempts_keep_failed_trajectories(tmp_path):
    run_dir = RunDir(tmp_path)
    first = run_dir.prepare_attempt("a__b-1", 1)
    first.write_text("attempt 1\n")
    second = run_dir.prepare_attempt("a__b-1", 2)
    assert second == first and not second.exists()
    assert (first.parent / "trajectory.attempt1.jsonl").read_text() == "attempt 1\n"
    run_dir.prepare_attempt("a__b-1", 1)  # a new session starts clean
    assert not list(first.parent.glob("trajectory*"))


def config(**model):
    return validate({
        "dataset": {"name": "s", "source": "task_repo", "path": "bundled"},
        "model": {"name": "m", "backend": "gold", **model}, "agent": {"name": "bash"},
        "env": {}, "harness": {}, "run": {"name": "r"},
    })


def test_fingerprint_ignores_operational_keys_and_hides_secrets():
    base = fingerprint(config(api_key="sk-secret", temperature=0.0))
    assert base["model.api_key"] == "***" and base["model.temperature"] == 0.0
    assert not any(k.startswith(("run.workers", "harness.", "run.instance")) for k in base)
    changed = fingerprint(config(api_key="sk-other", temperature=0.7))
    assert drift(base, changed) == ["model.temperature"]


def test_redaction_reaches_nested_values_and_argv():
    assert redact({"a": {"Authorization": "Bearer x", "max_tokens": 1}, "hf_token": "hf_x", "api_key": ""}) == {
        "a": {"Authorization": "***", "max_tokens": 1}, "hf_token": "***", "api_key": ""}
    assert redact(["model.api_key=sk-1", "run.workers=2"]) == ["model.api_key=***", "run.workers=2"]


def test_redaction_by_shape_and_by_learned_value():
    """argv flags, env maps, URL credentials and extra_body keys are masked; learned values in any text."""
    redactor = Redactor()
    config = {"base_url": "https://alice:pw-in-url-1@proxy.example/v1", "extra_body": {"auth_token": "body-secret-2"},
              "server": {"extra_args": ["--api-key", "argv-secret-3", "--max-num-batched-tokens", "8192",
                                        "--hf-token=argv-secret-4"], "env": {"HF_HOME": "/cache/hf-home-5"}}}
    redactor.learn({**config, "env": {"pull": "missing", "workdir": "/testbed"}})  # the container section: no secrets
    assert redactor.data(config) == {
        "base_url": "https://***@proxy.example/v1", "extra_body": {"auth_token": "***"},
        "server": {"extra_args": ["--api-key", "***", "--max-num-batched-tokens", "8192", "--hf-token=***"],
                   "env": {"HF_HOME": "***"}}}
    log = "INFO args: --api-key argv-secret-3 HF_HOME=/cache/hf-home-5 body-secret-2 pw-in-url-1 --max-model-len 8192"
    assert redactor.text(log) == "INFO args: --api-key *** HF_HOME=*** *** *** --max-model-len 8192"
    assert redactor.text("GET https://bob:never-learned@host/x") == "GET https://***@host/x"
    assert redactor.data({"env": {"pull": "missing"}}) == {"env": {"pull": "missing"}}
    assert redactor.text("cd /testbed && git diff") == "cd /testbed && git diff"
    # a patch keeps a repository's own credentials-shaped text; only learned secrets are masked in it
    patch = "+DATABASE = 'postgres://app:app-pass@db/x'  # --password app-pass2 body-secret-2"
    assert redactor.text(patch, shapes=False) == patch.replace("body-secret-2", "***")
