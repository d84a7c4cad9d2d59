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


def scaffold(folder, **hashes):
    return {"templates": str(folder), "template_sha256": hashes}


def test_a_changed_prompt_template_is_drift_naming_the_file(tmp_path):
    from atlas.manifest import ConfigDrift, check_drift, open_manifest, read_manifest

    run_dir = RunDir(tmp_path / "run")
    open_manifest(run_dir, config(), {"agent": scaffold("/prompts", **{"system.j2": "a1", "instance.j2": "b1"})})
    # the second session records its scaffold too: the fingerprint, not the latest description, is the reference
    open_manifest(run_dir, config(), {"agent": scaffold("/prompts", **{"system.j2": "a1", "instance.j2": "b1"})})
    edited = scaffold("/prompts", **{"system.j2": "a2", "instance.j2": "b1"})
    with pytest.raises(ConfigDrift, match=r"prompts\.system\.j2: 'a1' -> 'a2' \(file /prompts/system\.j2 changed\)"):
        check_drift(run_dir, config(), edited)
    with pytest.raises(ConfigDrift, match="system.j2"):
        open_manifest(run_dir, config(), {"agent": edited})
    allowed = config()
    allowed.run.allow_config_change = True
    assert check_drift(run_dir, allowed, edited) == ["prompts.system.j2"]
    open_manifest(run_dir, allowed, {"agent": edited})
    assert read_manifest(run_dir.manifest)["fingerprint"]["prompts.system.j2"] == "a2"
    assert check_drift(run_dir, config(), edited) == []  # the change is recorded; the run goes on from it


def test_a_changed_mini_swe_agent_config_is_drift(tmp_path):
    from atlas.manifest import ConfigDrift, check_drift, open_manifest

    run_dir = RunDir(tmp_path / "run")
    open_manifest(run_dir, config(), {"agent": {"template_sha256": {"mini-swe-agent:extra/swebench.yaml": "c1"}}})
    with pytest.raises(ConfigDrift, match=r"mini-swe-agent's config extra/swebench\.yaml"):
        check_drift(run_dir, config(), {"template_sha256": {"mini-swe-agent:extra/swebench.yaml": "c2"}})


def test_a_manifest_from_before_prompt_fingerprints_is_checked_against_its_recorded_hashes(tmp_path):
    from atlas.manifest import ConfigDrift, check_drift, fingerprint

    run_dir = RunDir(tmp_path / "run")
    old = {"fingerprint": fingerprint(config()), "agent": scaffold("/p", **{"system.j2": "a1"}), "sessions": []}
    atomic_write_text(run_dir.manifest, json.dumps(old))
    assert check_drift(run_dir, config(), scaffold("/p", **{"system.j2": "a1"})) == []
    with pytest.raises(ConfigDrift, match="system.j2"):
        check_drift(run_dir, config(), scaffold("/p", **{"system.j2": "a2"}))


def test_resume_with_an_edited_template_exits_2_naming_it(sample_images, tmp_path):
    import shutil

    from atlas.agents.bash.agent import TEMPLATES
    from tests.conftest import atlas

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    args = ["run", "model=gold", f"+agent.templates={templates}", f"run.root={tmp_path / 'runs'}",
            f"run.instance_ids=[{sample_images[0].instance_id}]", "run.evaluate=false"]
    assert atlas(*args).returncode == 0
    system = templates / "system.j2"
    system.write_text(system.read_text() + "\nAlways write tests first.\n")
    refused = atlas(*args)
    assert refused.returncode == 2 and f"file {system} changed" in refused.stderr, refused.stderr[-2000:]
    assert atlas(*args, "run.allow_config_change=true").returncode == 0
