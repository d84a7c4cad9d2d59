"""Instance images as a resource: check, pull with backoff against a real (local) registry, keep/budget removal.

Every image a test creates has a test-unique name and only those are removed: the sample-task
images and the base image are shared with every other test and stay.
"""

import json
import uuid

import docker.errors
import pytest

from atlas.config import DatasetConfig, EnvConfig, ImagesConfig
from atlas.datasets import Instance, load_task_repo_rows
from atlas.image_store import (
    ImageRef, PullFailed, RateLimited, apply_keep, ensure, fix_command, image_ref, inspect, pull,
)
from atlas.environments import ImageMissing
from atlas.images import BASE_IMAGE
from tests.conftest import atlas
from tests.fake_registry import FakeRegistry


@pytest.fixture
def unique():
    return f"atlas-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup(docker_client):
    names: list[str] = []
    yield names
    for name in names:
        try:
            docker_client.images.remove(name)
        except docker.errors.ImageNotFound:
            pass


def test_names_follow_the_configured_registry():
    instance = Instance(instance_id="django__django-11099", repo="django/django", base_commit="abc1234",
                        problem_statement="x")
    official = image_ref(instance, ImagesConfig())
    assert official.local == official.source == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    epoch = image_ref(instance, ImagesConfig(namespace="ghcr.io/epoch-research",
                                             pattern="{namespace}/swe-bench.eval.{arch}.{instance_id}:latest"))
    assert epoch.local == official.local  # what the harness grades with
    assert epoch.source == "ghcr.io/epoch-research/swe-bench.eval.x86_64.django__django-11099:latest"
    own = image_ref(instance.model_copy(update={"image": "my/image:1"}), ImagesConfig(namespace="elsewhere"))
    assert own.local == own.source == "my/image:1"  # a row's own image is pulled as named


def test_pull_backs_off_on_rate_limit_then_pulls_and_tags(docker_client, unique, cleanup):
    with FakeRegistry(rate_limited=2) as registry:
        ref = ImageRef("x", f"{unique}/img:1", f"{registry.address}/{unique}/img:1")
        cleanup += [ref.local, ref.source]
        waits = []
        pull(docker_client, ref, ImagesConfig(pull_backoff_s=0.1, pull_attempts=5),
             on_retry=lambda state: waits.append(state.next_action.sleep))
    assert waits, "the 429 answers were not retried"
    assert set(docker_client.images.get(ref.local).tags) == {ref.local, ref.source}


def test_pull_gives_up_after_the_configured_tries_and_not_found_is_not_retried(docker_client, unique):
    with FakeRegistry(rate_limited=10_000, marker=unique) as registry:
        ref = ImageRef("x", f"{registry.address}/{unique}/img:1", f"{registry.address}/{unique}/img:1")
        tries = []
        with pytest.raises(RateLimited, match="toomanyrequests"):
            pull(docker_client, ref, ImagesConfig(pull_backoff_s=0.05, pull_attempts=3),
                 on_retry=lambda state: tries.append(state.attempt_number))
        assert tries == [1, 2]
    with FakeRegistry(unknown=(f"{unique}/gone",)) as registry:
        ref = ImageRef("x", f"{registry.address}/{unique}/gone:1", f"{registry.address}/{unique}/gone:1")
        tries = []
        with pytest.raises(PullFailed, match="manifest unknown"):
            pull(docker_client, ref, ImagesConfig(pull_backoff_s=0.05, pull_attempts=3),
                 on_retry=lambda state: tries.append(state.attempt_number))
        assert tries == []
        with pytest.raises(ImageMissing, match=r"could not be pulled .*manifest unknown.*get it with: atlas images pull"):
            ensure(docker_client, ref, EnvConfig(), fix_command(DatasetConfig(name="f", source="file", path="x.jsonl"), ["x"]))


def test_check_and_pull_commands_per_image(docker_client, sample_images, unique, cleanup, tmp_path):
    rows = load_task_repo_rows(DatasetConfig(name="s", source="task_repo", path="bundled"))[:3]
    with FakeRegistry(rate_limited=2, unknown=(f"{unique}/gone",)) as registry:
        rows[0]["image"] = f"{registry.address}/{unique}/ok:1"
        rows[1]["image"] = f"{registry.address}/{unique}/gone:1"
        rows[2]["image"] = f"{unique}/present:1"  # a tag of this test's own: shared images may be rebuilt meanwhile
        docker_client.images.get(BASE_IMAGE).tag(f"{unique}/present", "1")
        cleanup += [rows[0]["image"], rows[2]["image"]]
        dataset = tmp_path / "rows.jsonl"
        dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
        selection = ["dataset=file", f"dataset.path={dataset}"]
        before = atlas("images", "check", *selection)
        assert before.returncode == 3, before.stderr
        assert f"missing: {rows[0]['image']} {rows[1]['image']}" in before.stderr
        assert "get them with: atlas images pull" in before.stderr
        assert "present" in before.stdout and "1 present" in before.stdout and "2 missing" in before.stdout
        pulled = atlas("images", "pull", *selection, "env.images.pull_backoff_s=0.1", "env.images.pull_attempts=4")
    assert pulled.returncode == 3, pulled.stderr
    assert f"failed {rows[1]['image']}: failed: manifest for {rows[1]['image']} not found" in pulled.stdout
    assert "2 of 3 image(s) present, 1 failed" in pulled.stderr
    assert f"{rows[0]['image']}: rate-limited (try 1 of 4); waiting" in pulled.stderr  # the backoff is shown
    after = atlas("images", "check", *selection, "run.slice=:1")
    assert after.returncode == 0 and "1 present" in after.stdout


def _tag_copy(client, source: str, name: str) -> str:
    repository, tag = name.rsplit(":", 1)
    client.images.get(source).tag(repository, tag)
    return name


def test_keep_none_and_budget_remove_only_this_runs_unused_images(docker_client, sample_images, unique, cleanup):
    source = sample_images[0].image_name()
    refs = [ImageRef(f"i{n}", _tag_copy(docker_client, source, f"{unique}/i{n}:1"), f"{unique}/i{n}:1")
            for n in range(3)]
    # a tag of the same image that is not one of this run's: it must stay, and with it the image
    other = _tag_copy(docker_client, source, f"{unique}/not-this-run:1")
    cleanup += [r.local for r in refs] + [other]
    size = inspect(docker_client, refs[:1])[0].size
    # a budget of two images' worth removes the oldest one only
    removed, busy = apply_keep(docker_client, refs, ImagesConfig(keep="budget", budget_gb=2.5 * size / 1e9))
    assert removed == [refs[0].local] and busy == []
    # an image a container (of any process) was started from is never removed
    container = docker_client.containers.create(refs[1].local, command=["true"], labels={"atlas-test": unique})
    try:
        removed, busy = apply_keep(docker_client, refs + [ImageRef("base", BASE_IMAGE, BASE_IMAGE)], ImagesConfig(keep="none"))
    finally:
        container.remove(force=True)
    assert removed == [refs[2].local] and busy == [refs[1].local]
    assert docker_client.images.get(other) and docker_client.images.get(BASE_IMAGE)  # other images stay
    assert apply_keep(docker_client, refs, ImagesConfig(keep="all")) == ([], [])
