"""Secrets never reach disk: planted in every place a user can put one, grepped for in every file of the run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from atlas.models.deterministic import SUBMIT, turn
from tests.conftest import atlas, read_jsonl

STAND_IN = [sys.executable, str(Path(__file__).with_name("fake_openai.py")), "serve"]
# one distinct secret per place a user can put one
SECRETS = {
    "argv": "argv-api-key-7f3a91c2",      # model.server.extra_args: --api-key (also the client's key)
    "env": "hf-env-token-52c1d0e8",       # model.server.env.HF_TOKEN
    "url": "url-password-9e84b2aa",       # credentials inside a URL
    "extra_body": "body-token-31d6ac47",  # model.extra_body
}


def test_planted_secrets_reach_no_file_of_a_managed_server_run(sample_images, tmp_path):
    instance = sample_images[0]
    answers, requests = tmp_path / "answers.json", tmp_path / "requests.jsonl"
    answers.write_text(json.dumps([turn("Submit.", SUBMIT)]))
    command = json.dumps([*STAND_IN, "--answers", str(answers), "--record", str(requests)]).replace('"', "'")
    runs = tmp_path / "runs"
    done = atlas(
        "run", "model=qwen2.5-coder-14b-awq", f"model.server.command={command}", "model.server.max_model_len=16384",
        f"model.server.extra_args=[--api-key,{SECRETS['argv']},--hf-mirror,'https://mirror:{SECRETS['url']}@hf.invalid/']",
        f"+model.server.env.HF_TOKEN={SECRETS['env']}", f"+model.extra_body.auth_token={SECRETS['extra_body']}",
        "model.api_key_env=ATLAS_TEST_SERVER_KEY", "model.retry_initial_wait=0.01", f"run.root={runs}",
        f"run.instance_ids=[{instance.instance_id}]", "run.evaluate=false",
        env={**os.environ, "ATLAS_TEST_SERVER_KEY": SECRETS["argv"]}, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = runs / "sample.qwen2.5-coder-14b-awq.bash"
    status = json.loads((run_dir / "instances" / instance.instance_id / "status.json").read_text())
    assert status["status"] == "submitted", status

    # the run really used every secret: the server got the key and the body field, and was handed the rest
    seen = read_jsonl(requests)
    completions = [r for r in seen if r["path"].endswith("/chat/completions")]
    assert completions and all(r["headers"]["authorization"] == f"Bearer {SECRETS['argv']}" for r in completions)
    assert all(r["body"]["auth_token"] == SECRETS["extra_body"] for r in completions)
    log = (run_dir / "vllm.log").read_text()
    assert "stand-in vllm: env HF_TOKEN=***" in log  # the server printed the token it was given; the copy masks it
    assert "--api-key *** --hf-mirror https://***@hf.invalid/" in log
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"]["server"]["env"] == {"HF_TOKEN": "***"}

    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"manifest.json", "preds.jsonl", "vllm.log", "trajectory.jsonl", "status.json"} <= {p.name for p in files}
    leaks = [(p.relative_to(run_dir), place) for p in files for place, secret in SECRETS.items()
             if secret.encode() in p.read_bytes()]
    assert leaks == []


def test_secret_flags_are_masked_in_argv_lists_and_text():
    """vLLM's --api-key, --hf-token and --ssl-keyfile, as separate words, with '=', and in a logged command line."""
    from atlas.redaction import redact, redact_text

    argv = ["vllm", "serve", "w", "--api-key", "k-1", "--hf-token=t-2", "--ssl-keyfile", "/k.pem", "--port", "8000"]
    assert redact(argv) == ["vllm", "serve", "w", "--api-key", "***", "--hf-token=***", "--ssl-keyfile", "***",
                            "--port", "8000"]
    assert redact_text("$ vllm serve w --ssl-keyfile /k.pem --port 8000") == "$ vllm serve w --ssl-keyfile *** --port 8000"
