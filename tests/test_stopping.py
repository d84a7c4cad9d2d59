"""Stopping a run: SIGTERM with model calls in flight ends it within 5 s; a second Ctrl-C exits at once;
containers carry a lifetime and owner labels, and `atlas clean` removes only ATLAS's leftovers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from atlas.models.deterministic import SUBMIT, turn
from tests.conftest import REPO_ROOT, atlas, labeled_containers
from tests.fake_openai import FakeOpenAIServer

STOP_WITHIN_S = 5.0


def wait_for(predicate, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_sigterm_with_model_calls_in_flight_ends_the_run_within_5_seconds(docker_client, sample_images, tmp_path):
    server = FakeOpenAIServer(model="fake-coder").start()
    server.delay_s = 120  # each answer takes two minutes: both workers wait on the model when the signal comes
    ids = [i.instance_id for i in sample_images[:2]]
    args = [sys.executable, "-m", "atlas.cli", "run", "model=openai-compatible", f"model.base_url={server.base_url}",
            "model.model=fake-coder", f"run.root={tmp_path / 'runs'}", "run.workers=2", "run.evaluate=false",
            f"run.instance_ids=[{','.join(ids)}]"]
    run_dir = tmp_path / "runs" / "sample.openai-compatible.bash"
    try:
        process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: server.completions() == 2)
        assert len(labeled_containers(docker_client, run_dir)) == 2
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        took = time.monotonic() - sent
        assert process.returncode == 130, err[-3000:]
        assert took < STOP_WITHIN_S, f"the run took {took:.1f}s to stop"
        assert not labeled_containers(docker_client, run_dir)
        assert not list(run_dir.glob("instances/*/status.json"))  # nothing in flight was recorded as finished

        # the resume is clean: both instances run again and finish
        server.delay_s = 0
        for _ in ids:
            server.answer(turn("Submit.", SUBMIT))
        resumed = atlas(*args[3:], timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        statuses = [json.loads((run_dir / "instances" / i / "status.json").read_text())["status"] for i in ids]
        assert statuses == ["submitted", "submitted"]
    finally:
        server.stop()


SECOND_SIGNAL = textwrap.dedent("""
    import sys, time
    from atlas.stopping import stop_on_signals
    with stop_on_signals(lambda: print("on_stop", flush=True)):
        try:
            print("ready", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("unwinding", flush=True)
            time.sleep(60)  # a cleanup that hangs: only a second signal ends it
    sys.exit(0)
""")


def test_a_second_interrupt_exits_at_once():
    process = subprocess.Popen([sys.executable, "-c", SECOND_SIGNAL], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    assert process.stdout.readline().strip() == "on_stop"
    assert process.stdout.readline().strip() == "unwinding"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < STOP_WITHIN_S
    assert "interrupted again" in err and "on_stop" not in out  # on_stop ran once, for the first signal


@pytest.fixture
def base_image(docker_client):
    from atlas.images import BASE_IMAGE, build_base_image

    build_base_image(docker_client)
    return BASE_IMAGE


def test_a_container_ends_with_its_lifetime_and_names_its_owner(docker_client, base_image, tmp_path):
    import os

    from atlas.config import EnvConfig
    from atlas.environments import DockerEnvironment

    env = DockerEnvironment(base_image, EnvConfig(), {"atlas.run_dir": str(tmp_path)}, docker_client, lifetime_s=3)
    env.start()  # and never closed, as after a SIGKILL
    container = docker_client.containers.get(env.container.id)
    assert container.labels["atlas.pid"] == str(os.getpid()) and container.labels["atlas.lifetime_s"] == "3"
    assert env.execute("echo alive", 10).output.strip() == "alive"
    wait_for(lambda: not labeled_containers(docker_client, tmp_path), seconds=30)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_clean_removes_only_atlas_containers_whose_owner_is_gone(docker_client, base_image, tmp_path):
    from atlas.config import EnvConfig
    from atlas.environments import DockerEnvironment
    from atlas.environments.docker import labeled_containers as atlas_containers

    orphan = DockerEnvironment(base_image, EnvConfig(), {"atlas.run_dir": str(tmp_path / "a"), "atlas.pid": str(dead_pid())},
                               docker_client, lifetime_s=600)
    owned = DockerEnvironment(base_image, EnvConfig(), {"atlas.run_dir": str(tmp_path / "b")}, docker_client,
                              lifetime_s=600)
    # a container without ATLAS's label, though it names one of the same run folders
    foreign = docker_client.containers.run(base_image, ["sleep", "600"], detach=True, auto_remove=True,
                                           labels={"atlas.run_dir": str(tmp_path / "a")})
    try:
        orphan.start()
        owned.start()
        done = atlas("clean", "--orphans", timeout=120)
        assert done.returncode == 0, done.stderr
        assert not atlas_containers(docker_client, **{"atlas.run_dir": str(tmp_path / "a")})  # the orphan is gone
        assert atlas_containers(docker_client, **{"atlas.run_dir": str(tmp_path / "b")})  # its owner (this process) runs
        foreign.reload()
        assert foreign.status == "running"  # never one without ATLAS's label

        done = atlas("clean", "--run-dir", str(tmp_path / "b"), timeout=120)
        assert done.returncode == 0 and "1 container(s) removed" in done.stderr
        assert not atlas_containers(docker_client, **{"atlas.run_dir": str(tmp_path / "b")})
        foreign.reload()
        assert foreign.status == "running"
    finally:
        for env in (orphan, owned):
            env.close()
        foreign.remove(force=True)


def test_grading_run_ids_differ_per_run_directory_and_stay_put(tmp_path):
    from atlas.config import HarnessConfig
    from atlas.harness.evaluate import grading_run_id
    from atlas.rundir import RunDir

    harness = HarnessConfig()
    first, second = RunDir(tmp_path / "runs" / "one"), RunDir(tmp_path / "other" / "one")
    assert grading_run_id(first, harness) != grading_run_id(second, harness)
    assert grading_run_id(first, harness) == grading_run_id(RunDir(tmp_path / "runs" / "one"), harness)
    assert grading_run_id(first, harness).startswith(f"{harness.run_id}.")


def cancel_while_waiting(model) -> float:
    """Seconds from `cancel()` until a query waiting on a slow server gives up (it must raise ModelError)."""
    import threading

    from atlas.models import ModelError
    from atlas.models.metering import MeteredModel

    metered = MeteredModel(model)
    outcome: dict = {}

    def ask() -> None:
        try:
            metered.query([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        except ModelError as e:
            outcome["error"] = (e, time.monotonic())

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    time.sleep(1.0)  # the request is on the wire
    cancelled = time.monotonic()
    metered.cancel()
    worker.join(10)
    assert "error" in outcome and "cancelled" in str(outcome["error"][0])
    return outcome["error"][1] - cancelled


def test_cancel_abandons_an_openai_compatible_request_in_flight():
    from atlas.models import make_model

    server = FakeOpenAIServer(model="fake-coder").start()
    server.delay_s = 120
    try:
        model = make_model({"name": "m", "backend": "openai", "model": "fake-coder", "base_url": server.base_url})
        model.open(None)
        assert cancel_while_waiting(model) < 1.0
        assert server.completions() == 1  # asked once, never retried after the cancel
    finally:
        server.stop()


def test_cancel_abandons_a_claude_request_in_flight(monkeypatch):
    import yaml

    from atlas.config import CONF_DIR
    from atlas.models import make_model
    from tests.fake_anthropic import FakeAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-cancel")
    preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())  # timeout: 600 s a request
    with FakeAnthropic(delay=120) as server:
        model = make_model({**preset, "base_url": server.url})
        assert cancel_while_waiting(model) < 1.0
        assert len(server.requests) <= 1
