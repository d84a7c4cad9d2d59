"""Every config group refuses unknown keys, lists the valid ones and suggests the closest; slices as documented."""

from __future__ import annotations

import pytest

from atlas.app import resolve
from atlas.config import ConfigError
from atlas.datasets import load_instances, select
from atlas.overrides import compose_config
from tests.conftest import atlas


def refused(*overrides: str) -> str:
    with pytest.raises(ConfigError) as error:
        resolve(compose_config(list(overrides)))
    return str(error.value)


# group (as selected), the misspelt key, the key suggested, a key that must be listed as valid
CASES = [
    (["+dataset.splt=test"], "dataset.splt", "split", "source"),
    (["+gpu.vram_gibs=16"], "gpu.vram_gibs", "vram_gb", "overhead_gib"),
    (["+env.memroy=8g"], "env.memroy", "memory", "pids_limit"),
    (["+harness.wokers=4"], "harness.wokers", "workers", "timeout"),
    (["+run.worker=4"], "run.worker", "workers", "instance_regex"),
    (["model=gold", "+model.backnd=gold"], "model.backnd", "backend", "name"),
    (["model=scripted", "+model.script_dir=x"], "model.script_dir", "scripts_dir", "backend"),
    (["model=openai-compatible", "model.model=m", "+model.tempreature=0.5"], "model.tempreature", "temperature", "top_p"),
    (["model=qwen2.5-coder-14b-awq", "+model.server.max_model_length=4096"], "model.server.max_model_len",
     "max_model_len", "kv_cache_dtype"),
    (["model=qwen2.5-coder-14b-awq", "+model.architecture.layer=4"], "model.architecture.layer", "layers", "kv_heads"),
    (["model=claude-sonnet-4", "+model.thinking_budjet=2048"], "model.thinking_budjet", "thinking_budget", "api_key_env"),
    (["agent=bash", "+agent.step_limt=3"], "agent.step_limt", "step_limit", "cost_limit"),
    (["agent=tools", "+agent.view_windw=50"], "agent.view_windw", "view_window", "step_limit"),
    (["agent=agentless", "+agent.candidate=2"], "agent.candidate", "candidates", "regression"),
]


@pytest.mark.parametrize("overrides, key, suggestion, valid", CASES, ids=[c[1] for c in CASES])
def test_unknown_key_is_refused_with_valid_keys_and_a_suggestion(overrides, key, suggestion, valid):
    message = refused(*overrides)
    assert key.rsplit(".", 1)[0] in message and f"did you mean {suggestion!r}" in message
    assert valid in message.split("valid keys:")[1]


def test_a_key_of_another_backend_is_named_as_such():
    """The default (scripted) model has no sampling: the hint says which backends have the key."""
    message = refused("+model.tempreature=0.5")
    assert "did you mean 'temperature'? it is a key of backend=anthropic, backend=llamacpp, backend=openai, backend=vllm only" in message


def test_a_typo_without_plus_names_the_key_too():
    message = refused("agent.step_limt=3")
    assert "agent.step_limt: unknown key (did you mean 'step_limit'?)" in message


def test_an_unknown_group_option_lists_the_options():
    assert "Available options in 'model'" in refused("model=gpt-5")


def test_cli_typo_exits_2_and_suggests_the_key(tmp_path):
    done = atlas("run", "model=qwen2.5-coder-14b-awq", "+model.tempreature=0.5", f"run.root={tmp_path}")
    assert done.returncode == 2, done.stderr
    assert "model.tempreature" in done.stderr and "did you mean 'temperature'?" in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before any run directory exists


@pytest.mark.parametrize("override, expected", [("run.slice=5", 5), ("run.slice=:3", 3), ("run.slice=2:8", 6),
                                                ("run.slice='::2'", 5)])
def test_documented_slice_forms(override, expected):
    config = resolve(compose_config(["model=gold", override]))
    assert isinstance(config.run.slice, str)
    assert len(select(load_instances(config.dataset), config.run)) == expected
