"""Config validation and the `atlas` command line's handling of bad input."""

import pytest

from atlas.config import ConfigError, parse_slice, validate
from tests.conftest import atlas


def _raw(**run):
    return {
        "dataset": {"name": "sample", "source": "task_repo", "path": "bundled", "split": "test"},
        "model": {"name": "gold", "backend": "gold"},
        "agent": {"name": "bash"},
        "env": {},
        "harness": {},
        "run": {"name": "r", **run},
    }


def test_valid_config_passes():
    config = validate(_raw(workers=3))
    assert config.run.workers == 3
    assert config.env.network is False


@pytest.mark.parametrize(
    "run, key",
    [({"workers": 0}, "run.workers"), ({"instance_regex": "("}, "run.instance_regex"),
     ({"slice": "a:b"}, "run.slice"), ({"bogus": 1}, "run.bogus"), ({"timeout": -5}, "run.timeout")],
)
def test_bad_values_name_the_key(run, key):
    with pytest.raises(ConfigError) as error:
        validate(_raw(**run))
    assert key in str(error.value)


def test_run_name_must_be_a_path_segment():
    with pytest.raises(ConfigError, match="run.name"):
        validate(_raw(name="../escape"))


@pytest.mark.parametrize("text, expected", [("5", slice(None, 5)), ("2:8", slice(2, 8)), ("::2", slice(None, None, 2))])
def test_parse_slice(text, expected):
    assert parse_slice(text) == expected


def test_cli_rejects_bad_override_before_any_work(tmp_path):
    done = atlas("run", "run.workers=0", f"run.root={tmp_path}")
    assert done.returncode == 2
    assert "run.workers" in done.stderr
    assert not any(tmp_path.rglob("manifest.json"))


def test_cli_requires_path_for_file_dataset(tmp_path):
    done = atlas("run", "dataset=file", f"run.root={tmp_path}")
    assert done.returncode == 2
    assert "dataset.path" in done.stderr


def test_cli_help_lists_groups_and_options():
    done = atlas("run", "--help")
    assert done.returncode == 0
    models = next(line for line in done.stdout.splitlines() if line.startswith("model: "))
    assert {"gold", "empty", "scripted", "vllm", "claude-sonnet"} <= set(models[7:].split(", "))
    for text in ("dataset: file, real, sample, task_repo, verified", "instance_regex", "workers:"):
        assert text in done.stdout
    top = atlas("--help")
    assert "evaluate RUN_DIR" in top.stdout and "images build" in top.stdout


def test_cli_prints_composed_config():
    done = atlas("run", "--cfg", "job", "model=gold", "run.workers=4")
    assert done.returncode == 0
    assert "backend: gold" in done.stdout and "workers: 4" in done.stdout


def test_unknown_command_is_an_error():
    done = atlas("frobnicate")
    assert done.returncode == 2 and "unknown command" in done.stderr
