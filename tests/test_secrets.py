"""Secrets never reach disk or the console: planted in every place a user (or the environment) can put one,
grepped for in every file of the run or sweep folder and in everything `atlas` printed."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from atlas.models.deterministic import SUBMIT, turn
from tests.conftest import atlas, read_jsonl
from tests.fake_openai import FakeOpenAIServer

STAND_IN = [sys.executable, str(Path(__file__).with_name("fake_openai.py")), "serve"]
# one distinct secret per place a user can put one
SECRETS = {
    "argv": "argv-hf-token-7f3a91c2",      # model.server.extra_args: --hf-token
    "env": "hf-env-token-52c1d0e8",        # model.server.env.HF_TOKEN
    "url": "url-password-9e84b2aa",        # credentials inside a URL
    "extra_body": "body-token-31d6ac47",   # model.extra_body
    "key_env": "key-env-value-64b1e2f0",   # the variable model.api_key_env names (its name looks like no secret)
    "anthropic": "inherited-anthropic-0c5d",  # inherited ANTHROPIC_API_KEY, never configured
    "openai": "inherited-openai-8a27f1",   # inherited OPENAI_API_KEY, never configured
}
INHERITED = {"ATLAS_TEST_SERVER_KEY": SECRETS["key_env"], "ANTHROPIC_API_KEY": SECRETS["anthropic"],
             "OPENAI_API_KEY": SECRETS["openai"]}


def leaks(folder: Path, console: str, secrets: dict[str, str]) -> list:
    """(file or 'console', route) for every planted value found; file names count as much as contents."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    found = [(str(p.relative_to(folder)), route) for p in files for route, secret in secrets.items()
             if secret.encode() in p.read_bytes() or secret in str(p.relative_to(folder))]
    return found + [("console", route) for route, secret in secrets.items() if secret in console]


def test_planted_secrets_reach_no_file_or_console_of_a_managed_server_run(sample_images, tmp_path):
    instance = sample_images[0]
    answers, requests = tmp_path / "answers.json", tmp_path / "requests.jsonl"
    answers.write_text(json.dumps([turn("Submit.", SUBMIT)]))
    command = json.dumps([*STAND_IN, "--answers", str(answers), "--record", str(requests), "--print-env"])
    runs = tmp_path / "runs"
    done = atlas(
        "run", "model=qwen2.5-coder-14b-awq", f"model.server.command={command.replace(chr(34), chr(39))}",
        "model.server.max_model_len=16384",
        f"model.server.extra_args=[--hf-token,{SECRETS['argv']},--hf-mirror,'https://mirror:{SECRETS['url']}@hf.invalid/']",
        f"+model.server.env.HF_TOKEN={SECRETS['env']}", f"+model.extra_body.auth_token={SECRETS['extra_body']}",
        "model.api_key_env=ATLAS_TEST_SERVER_KEY", "model.retry_initial_wait=0.01", f"run.root={runs}",
        f"run.instance_ids=[{instance.instance_id}]", "run.evaluate=false",
        env={**os.environ, **INHERITED}, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = runs / "sample.qwen2.5-coder-14b-awq.bash"
    status = json.loads((run_dir / "instances" / instance.instance_id / "status.json").read_text())
    assert status["status"] == "submitted", status

    # the run really used every secret: the server got the key and the body field, and was handed the rest
    completions = [r for r in read_jsonl(requests) if r["path"].endswith("/chat/completions")]
    assert completions and all(r["headers"]["authorization"] == f"Bearer {SECRETS['key_env']}" for r in completions)
    assert all(r["body"]["auth_token"] == SECRETS["extra_body"] for r in completions)
    log = (run_dir / "vllm.log").read_text()
    assert "stand-in vllm: env HF_TOKEN=***" in log  # the server printed the token it was given; the copy masks it
    assert "--hf-token *** --hf-mirror https://***@hf.invalid/" in log
    # it printed its whole environment, inherited variables included: each value masked
    for name in INHERITED:
        assert f"stand-in vllm: environ {name}=***" in log
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"]["server"]["env"] == {"HF_TOKEN": "***"}

    names = {p.name for p in run_dir.rglob("*") if p.is_file()}
    assert {"manifest.json", "preds.jsonl", "vllm.log", "trajectory.jsonl", "status.json"} <= names
    assert leaks(run_dir, done.stdout + done.stderr, SECRETS) == []


SWEEP_SECRETS = {
    "api_key_a": "sweep-api-key-a-5e0c7d",  # +model.extra_body.api_key, first value of the sweep
    "api_key_b": "sweep-api-key-b-91f2aa",  # and the second: the members differ only in a secret
    "env_set": "env-set-token-3b8e4c11",    # +hydra.job.env_set.HF_TOKEN (Hydra's own key)
    "url": "url-password-6d2f0b93",         # a password in model.base_url
}


def test_planted_secrets_reach_no_file_folder_name_or_console_of_a_sweep(sample_images, tmp_path):
    server = FakeOpenAIServer(model="fake-coder").start()
    try:
        for _ in range(2):
            server.answer(turn("Submit.", SUBMIT))
        host = server.base_url.removeprefix("http://")
        runs = tmp_path / "runs"
        long_value = "n" * 300  # a member folder named after it would be longer than a file name may be
        done = atlas(
            "run", "-m", "model=openai-compatible", f"model.base_url=http://user:{SWEEP_SECRETS['url']}@{host}",
            "model.model=fake-coder", "model.retry_initial_wait=0.01",
            f"+model.extra_body.api_key={SWEEP_SECRETS['api_key_a']},{SWEEP_SECRETS['api_key_b']}",
            f"+hydra.job.env_set.HF_TOKEN={SWEEP_SECRETS['env_set']}", f"+model.extra_body.note={long_value}",
            f"run.root={runs}", f"run.instance_ids=[{sample_images[0].instance_id}]", "run.evaluate=false",
            "run.workers=1", timeout=600,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    bodies = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert sorted(b["api_key"] for b in bodies) == [SWEEP_SECRETS["api_key_a"], SWEEP_SECRETS["api_key_b"]]

    sweep = runs / "sweep"
    members = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(members) == 2, members  # apart, though they differ only in a secret
    for name in members:
        # the secret's key kept, its value not; cut to a file name's 255 bytes, ending with a hash of the whole name
        assert name.startswith("+model.extra_body.api_key,+model.extra_body.note=nnn")
        assert len(name.encode()) == 255 and re.fullmatch(r".*-[0-9a-f]{8}", name)
        assert (sweep / name / "instances" / sample_images[0].instance_id / "status.json").is_file()
    multirun = (sweep / "multirun.yaml").read_text()
    assert "api_key=***" in multirun and "HF_TOKEN: '***'" in multirun
    assert leaks(sweep, done.stdout + done.stderr, SWEEP_SECRETS) == []


def test_url_credentials_never_reach_the_console(sample_images, tmp_path):
    """A server that does not answer: each retry's warning and the final error name the URL, never its password."""
    password = "console-url-pw-0d93c1"
    done = atlas("run", "model=openai-compatible", f"model.base_url=http://u:{password}@127.0.0.1:9/v1",
                 "model.model=m", "model.retry_initial_wait=0.01", f"run.root={tmp_path}",
                 f"run.instance_ids=[{sample_images[0].instance_id}]", "run.evaluate=false", timeout=300)
    assert done.returncode == 3, done.stderr[-3000:]  # an unreachable server: an infrastructure failure
    assert "http://***@127.0.0.1:9/v1" in done.stderr  # the message is there, the password is not
    assert password not in done.stdout + done.stderr
    assert leaks(tmp_path, "", {"url": password}) == []


def test_secret_flags_are_masked_in_argv_lists_and_text():
    """vLLM's --api-key, --hf-token and --ssl-keyfile, as separate words, with '=', and in a logged command line."""
    from atlas.redaction import redact, redact_text

    argv = ["vllm", "serve", "w", "--api-key", "k-1", "--hf-token=t-2", "--ssl-keyfile", "/k.pem", "--port", "8000"]
    assert redact(argv) == ["vllm", "serve", "w", "--api-key", "***", "--hf-token=***", "--ssl-keyfile", "***",
                            "--port", "8000"]
    assert redact_text("$ vllm serve w --ssl-keyfile /k.pem --port 8000") == "$ vllm serve w --ssl-keyfile *** --port 8000"


@pytest.mark.parametrize("text, masked", [
    ('{"x-api-key": "sk-ant-0042"}', '{"x-api-key": "***"}'),
    ('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG', 'aws_secret_access_key = ***'),
    ('aws s3 ls --aws-secret-access-key wJalrXUtn', 'aws s3 ls --aws-secret-access-key ***'),
    ('minio --secret-key s3cr3t-value --port 9000', 'minio --secret-key *** --port 9000'),
    ('HF_TOKEN=hf_AbCdEf0123 huggingface-cli download x', 'HF_TOKEN=*** huggingface-cli download x'),
    ('curl -H "Authorization: Bearer eyJhbGciOi.x.y" host', 'curl -H "Authorization: Bearer ***" host'),
    # inside a JSON-encoded line (a trajectory): the escaped quotes survive, so the line stays valid JSON
    (json.dumps('{"x-api-key": "sk-ant-0042"}'), json.dumps('{"x-api-key": "***"}')),
])
def test_secret_pairs_in_text_are_masked(text, masked):
    from atlas.redaction import redact_text

    assert redact_text(text) == masked


@pytest.mark.parametrize("text", ["pre-token = 5", "max_tokens: 4096", "--max-tokens 512", "my_token_count = 3",
                                  "password_hash = compute(x)"])
def test_words_that_only_contain_a_secret_word_are_left_alone(text):
    from atlas.redaction import redact_text

    assert redact_text(text) == text


def test_secret_keys_in_structures():
    from atlas.redaction import redact

    assert redact({"x-api-key": "a", "aws_secret_access_key": "b", "max_tokens": 4, "access_key_id": "AKIA"}) == \
        {"x-api-key": "***", "aws_secret_access_key": "***", "max_tokens": 4, "access_key_id": "AKIA"}


def test_inherited_secret_variables_and_the_named_key_variable_are_learned(monkeypatch):
    from atlas.redaction import REDACTOR, learn_environment

    monkeypatch.setattr(REDACTOR, "_known", set())
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-value-1")
    monkeypatch.setenv("MY_SERVER_KEY", "server-key-value-2")
    monkeypatch.setenv("HOME_LIKE_SETTING", "not-a-secret-3")
    learn_environment("MY_SERVER_KEY")
    printed = "ANTHROPIC_API_KEY=anthropic-value-1 MY_SERVER_KEY=server-key-value-2 X=not-a-secret-3"
    assert REDACTOR.text(printed, shapes=False) == "ANTHROPIC_API_KEY=*** MY_SERVER_KEY=*** X=not-a-secret-3"


def test_sweep_values_are_learned_one_by_one(monkeypatch):
    from atlas.redaction import REDACTOR, learn_overrides

    monkeypatch.setattr(REDACTOR, "_known", set())
    learn_overrides(["-m", "+model.extra_body.api_key=first-secret,second-secret", "model=gold,scripted",
                     "+hydra.job.env_set.HF_TOKEN=hydra-env-token"])
    assert REDACTOR.text("first-secret second-secret hydra-env-token gold scripted", shapes=False) == \
        "*** *** *** gold scripted"


def test_member_folder_names_hide_secret_values_and_fit_a_file_name():
    from atlas.redaction import REDACTOR
    from atlas.sweep_files import member_dirname

    assert member_dirname(["model=gold", "agent=bash"]) == "agent=bash,model=gold"  # unchanged for plain sweeps
    assert member_dirname(["model=gold", "run.workers=4"], ["run.workers"]) == "model=gold"
    REDACTOR.remember("learned-secret-value")
    hidden = member_dirname(["+model.extra_body.api_key=s3cr3t-abc", "model.base_url=http://u:pw@h/v1",
                             "model.model=learned-secret-value", "model=vllm"], index=3)
    assert hidden == "+model.extra_body.api_key,model.base_url,model.model,model=vllm,job3"
    assert member_dirname(["+model.extra_body.api_key=a1b2c3d4"], index=0) != \
        member_dirname(["+model.extra_body.api_key=e5f6a7b8"], index=1)
    long = member_dirname([f"+model.extra_body.note={'x' * 400}", "model=gold"])
    assert len(long.encode()) == 255 and long.startswith("+model.extra_body.note=xxx")
    assert long != member_dirname([f"+model.extra_body.note={'x' * 401}", "model=gold"])  # the hash tells them apart
    assert "/" not in member_dirname(["dataset.path=/data/x.jsonl"])
