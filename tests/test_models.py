"""The deterministic backends and the shared usage record."""

import json

import pytest

from atlas.datasets import Instance
from atlas.models import ModelError, Usage, make_model
from atlas.models.deterministic import heredoc_apply

PATCH = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
INSTANCE = Instance(instance_id="acme__w-1", repo="acme/w", base_commit="a" * 40, problem_statement="p", patch=PATCH)
MESSAGES = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "u" * 400}]


def test_gold_applies_the_reference_patch_then_submits():
    model = make_model({"name": "gold", "backend": "gold"}).for_instance(INSTANCE)
    first, second = model.query(MESSAGES), model.query(MESSAGES)
    assert PATCH in first.content and "git apply" in first.content
    assert "echo ATLAS_SUBMIT" in second.content
    assert first.usage.prompt_tokens == 200 and first.usage.estimated
    with pytest.raises(ModelError, match="exhausted"):
        model.query(MESSAGES)


def test_gold_without_reference_patch_is_a_model_error():
    with pytest.raises(ModelError, match="no reference patch"):
        make_model({"name": "gold", "backend": "gold"}).for_instance(INSTANCE.model_copy(update={"patch": ""}))


def test_heredoc_marker_never_collides_with_the_patch():
    patch = "line with ATLAS_PATCH_EOF inside\n"
    command = heredoc_apply(patch)
    assert command.startswith("git apply --verbose - <<'ATLAS_PATCH_EOF_'")
    assert command.endswith("\nATLAS_PATCH_EOF_")


def test_scripted_reads_turns_per_instance(tmp_path):
    (tmp_path / "acme__w-1.yaml").write_text("turns:\n  - first\n  - second\n")
    model = make_model({"name": "s", "backend": "scripted", "scripts_dir": str(tmp_path)})
    bound = model.for_instance(INSTANCE)
    assert [bound.query(MESSAGES).content for _ in range(2)] == ["first", "second"]
    other = model.for_instance(INSTANCE.model_copy(update={"instance_id": "acme__w-2"}))
    assert "ATLAS_SUBMIT" in other.query(MESSAGES).content


def test_scripted_rejects_malformed_script(tmp_path):
    (tmp_path / "acme__w-1.yaml").write_text("turns: just one string\n")
    model = make_model({"name": "s", "backend": "scripted", "scripts_dir": str(tmp_path)})
    with pytest.raises(ModelError, match="list of strings"):
        model.for_instance(INSTANCE)


def test_unknown_backend():
    with pytest.raises(ValueError, match="model.backend 'nope' is unknown"):
        make_model({"name": "x", "backend": "nope"})


def test_usage_adds_up():
    total = Usage(prompt_tokens=3, completion_tokens=1) + Usage(prompt_tokens=2, cached_prompt_tokens=1, estimated=True)
    assert (total.prompt_tokens, total.cached_prompt_tokens, total.completion_tokens, total.estimated) == (5, 1, 1, True)


def test_scripted_reads_the_turns_of_its_scaffold(tmp_path):
    (tmp_path / "acme__w-1.yaml").write_text(
        "turns: [bash turn]\n"
        "tools_turns:\n"
        "  - content: look\n"
        "    tool_calls: [{name: view, arguments: {path: a.py}}, {name: grep, arguments: '{\"pattern\": '}]\n"
        "  - {content: done, tool_calls: [{name: submit}]}\n"
        "agentless_turns: [first answer, second answer]\n")
    config = {"name": "s", "backend": "scripted", "scripts_dir": str(tmp_path)}
    tools = make_model(config, scaffold="tools").for_instance(INSTANCE)
    first = tools.query(MESSAGES)
    assert first.content == "look" and tools.scaffold == "tools"
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        ("call_0_0", "view", '{"path": "a.py"}'), ("call_0_1", "grep", '{"pattern": ')]  # raw text kept as written
    assert [c.name for c in tools.query(MESSAGES).tool_calls] == ["submit"]
    agentless = make_model(config, scaffold="agentless").for_instance(INSTANCE)
    assert [agentless.query(MESSAGES).content for _ in range(2)] == ["first answer", "second answer"]
    with pytest.raises(ModelError, match="exhausted"):
        agentless.query(MESSAGES)
    assert make_model(config, scaffold="bash").for_instance(INSTANCE).query(MESSAGES).content == "bash turn"


def test_scripted_rejects_malformed_tool_turns(tmp_path):
    (tmp_path / "acme__w-1.yaml").write_text("tools_turns:\n  - content: x\n    tool_calls: [{arguments: {}}]\n")
    model = make_model({"name": "s", "backend": "scripted", "scripts_dir": str(tmp_path)}, scaffold="tools")
    with pytest.raises(ModelError, match=r"tools_turns\[0\] must be"):
        model.for_instance(INSTANCE)


def test_bundled_scripts_are_chosen_by_scaffold():
    from atlas.config import DatasetConfig
    from atlas.datasets import load_instances

    instance = load_instances(DatasetConfig(name="s", source="task_repo", path="bundled"))[0]
    for scaffold in ("bash", "tools", "agentless"):
        model = make_model({"name": "s", "backend": "scripted"}, scaffold=scaffold)
        first = model.for_instance(instance).query(MESSAGES)
        assert bool(first.tool_calls) is (scaffold == "tools")
        assert ("```bash" in first.content) is (scaffold == "bash")


def test_gold_and_empty_answer_every_scaffold():
    gold_tools = make_model({"name": "gold", "backend": "gold"}, scaffold="tools").for_instance(INSTANCE)
    apply, submit = gold_tools.query(MESSAGES), gold_tools.query(MESSAGES)
    assert apply.tool_calls[0].name == "bash" and PATCH in json.loads(apply.tool_calls[0].arguments)["command"]
    assert submit.tool_calls[0].name == "submit"
    gold_agentless = make_model({"name": "gold", "backend": "gold"}, scaffold="agentless").for_instance(INSTANCE)
    answers = {gold_agentless.query(MESSAGES).content for _ in range(12)}  # one answer for any number of calls
    assert len(answers) == 1 and "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE" in answers.pop()
    empty = make_model({"name": "empty", "backend": "empty"}, scaffold="tools").for_instance(INSTANCE)
    assert [c.name for c in empty.query(MESSAGES).tool_calls] == ["submit"]
    with pytest.raises(ModelError, match="no answers for scaffold 'swe'"):
        make_model({"name": "empty", "backend": "empty"}, scaffold="swe").for_instance(INSTANCE)
