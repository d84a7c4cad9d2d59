"""The Docker environment against a real engine: commands, timeouts, truncation, diffs, cleanup."""

import pytest

from atlas.config import EnvConfig
from atlas.environments import DockerEnvironment, EnvError
from atlas.environments.docker import remove_labeled
from atlas.images import BASE_IMAGE, build_base_image

LABELS = {"atlas.run_dir": "/tests/docker-env", "atlas.instance": "env-test"}


@pytest.fixture(scope="module")
def base_image(docker_client):
    build_base_image(docker_client)
    return BASE_IMAGE


@pytest.fixture
def env(docker_client, base_image):
    config = EnvConfig(workdir="/", max_output_chars=400)
    with DockerEnvironment(base_image, config, LABELS, docker_client) as environment:
        yield environment
    assert not docker_client.containers.list(all=True, filters={"label": "atlas.instance=env-test"})


def test_execute_returns_output_and_exit_code(env):
    result = env.execute("echo out; echo err >&2; exit 3", timeout=30)
    assert result.exit_code == 3
    assert "out" in result.output and "err" in result.output
    assert not result.timed_out and not result.truncated


def test_container_has_no_network_and_resource_limits(env, docker_client):
    interfaces = env.execute("ls /sys/class/net", timeout=30).output.split()
    assert interfaces == ["lo"]
    attrs = docker_client.containers.get(env.container.id).attrs["HostConfig"]
    assert attrs["NetworkMode"] == "none"
    assert attrs["Memory"] == 4 * 1024**3 and attrs["NanoCpus"] == 2 * 10**9 and attrs["PidsLimit"] == 1024


def test_long_output_keeps_head_and_tail(env):
    result = env.execute("seq 1 5000", timeout=30)
    assert result.truncated
    assert result.output.startswith("1\n2\n") and result.output.rstrip().endswith("5000")
    assert "characters elided" in result.output and len(result.output) < 500


def test_timeout_kills_the_command_and_the_container_survives(env):
    # a background child holding stdout open would hang a naive exec; the process group dies too
    result = env.execute("sleep 300 & sleep 300; echo never", timeout=2)
    assert result.timed_out and result.exit_code in (124, 137)
    assert result.duration_s < 15
    assert "never" not in result.output
    # the command's sleeps are gone (the container's own main process, `sleep <lifetime>`, is not one of them)
    after = env.execute("echo alive; ps -eo args | grep -c '^sleep 300$' || true", timeout=30)
    assert after.exit_code == 0 and after.output.split() == ["alive", "0"]


def test_command_exiting_124_quickly_is_not_a_timeout(env):
    result = env.execute("exit 124", timeout=30)
    assert result.exit_code == 124 and not result.timed_out


def test_diff_includes_new_and_changed_files(docker_client, base_image):
    with DockerEnvironment(base_image, EnvConfig(workdir="/repo"), LABELS, docker_client) as env:
        setup = env.execute(
            "mkdir -p /repo && cd /repo && git init -q && printf 'a\\n' > f.txt && git add f.txt && "
            "git -c user.name=t -c user.email=t@t commit -qm base && git rev-parse HEAD", timeout=60)
        base = setup.output.strip().splitlines()[-1]
        env.execute("printf 'b\\n' > f.txt && printf 'new\\n' > g.txt", timeout=30)
        patch = env.diff(base)
    assert "diff --git a/f.txt b/f.txt" in patch and "+b" in patch
    assert "diff --git a/g.txt b/g.txt" in patch and "+new" in patch


def test_diff_against_unknown_commit_is_an_env_error(env):
    with pytest.raises(EnvError, match="could not extract the patch"):
        env.diff("0" * 40)


def test_container_removed_on_exception(docker_client, base_image):
    with pytest.raises(RuntimeError):
        with DockerEnvironment(base_image, EnvConfig(), LABELS, docker_client) as env:
            container_id = env.container.id
            raise RuntimeError("boom")
    assert not docker_client.containers.list(all=True, filters={"id": container_id})


def test_missing_image_is_an_env_error(docker_client):
    config = EnvConfig(pull="never")
    with pytest.raises(EnvError, match="not present and env.pull=never"):
        with DockerEnvironment("atlas-test/no-such-image:1", config, LABELS, docker_client):
            pass


def test_remove_labeled_sweeps_strays(docker_client, base_image):
    stray = DockerEnvironment(base_image, EnvConfig(), {**LABELS, "atlas.run_dir": "/tests/strays"}, docker_client)
    stray.start()
    assert remove_labeled(docker_client, **{"atlas.run_dir": "/tests/strays"}) == 1
    assert not docker_client.containers.list(all=True, filters={"label": "atlas.run_dir=/tests/strays"})
