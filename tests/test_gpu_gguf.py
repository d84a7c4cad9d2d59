"""GGUF weights on vLLM: the Hugging Face folder derived from a GGUF, and the GPU checks end to end on CPU.

The folder is derived from a small GGUF written here with the `gguf` package's own writer;
the checks run `bench.gpu_gguf` through ATLAS's managed VLLMModel against the stand-ins for
`vllm` and `nvidia-smi` (tests/fixtures/gpu_standins/), as on the GPU host.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

gguf = pytest.importorskip("gguf")  # the test extra installs it; vLLM's GGUF plugin needs it too

from bench import gguf_folder  # noqa: E402
from bench.gpu_gguf import main  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
STANDINS = Path(__file__).resolve().parent / "fixtures" / "gpu_standins"
# SmolLM2-135M-Instruct's template, as its GGUF carries it
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
          "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' "
          "+ message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\n' }}{% endif %}")
TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "Ġ", "1", "2", "ab", "Ġab", "12"]
TOOLS = [{"type": "function", "function": {"name": "bash", "description": "Run a command.", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]


def write_gguf(path: Path, arch: str = "llama", output_head: bool = False) -> Path:
    """A tiny GGUF: SmolLM2's metadata layout (sizes shrunk), byte-level tokens and merges, ChatML."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(8192)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_block_count(2)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(16)
    writer.add_vocab_size(len(TOKENS))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(TOKENS)
    writer.add_token_types([3, 3, 3] + [1] * (len(TOKENS) - 3))  # the first three are control tokens
    writer.add_token_merges(["a b", "Ġ ab", "1 2"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    writer.add_tensor("token_embd.weight", np.zeros((len(TOKENS), 64), dtype=np.float32))
    if output_head:
        writer.add_tensor("output.weight", np.zeros((len(TOKENS), 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def render(template: str, messages: list[dict], tools: list[dict] | None = None) -> str:
    """A chat template rendered the way transformers (and so vLLM) renders it."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    return env.from_string(template).render(messages=messages, tools=tools, add_generation_prompt=True)


def test_folder_has_the_gguf_sizes_and_special_tokens(tmp_path):
    out = tmp_path / "hf"
    summary = gguf_folder.write_folder(write_gguf(tmp_path / "m.gguf"), out)
    config = json.loads((out / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("llama", 64, 2)
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]) == (4, 2, 16)
    assert config["max_position_embeddings"] == 8192 and config["rope_theta"] == 100000.0
    assert config["vocab_size"] == len(TOKENS) and config["tie_word_embeddings"] is True  # no output.weight
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)
    settings = json.loads((out / "tokenizer_config.json").read_text())
    assert (settings["bos_token"], settings["eos_token"], settings["pad_token"]) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert settings["add_bos_token"] is False and settings["chat_template"] == CHATML
    assert summary["eos_token"] == "<|im_end|>"
    separate = gguf_folder.write_folder(write_gguf(tmp_path / "h.gguf", output_head=True), tmp_path / "hf2")
    assert json.loads((tmp_path / "hf2" / "config.json").read_text())["tie_word_embeddings"] is False
    assert separate["vocab_size"] == len(TOKENS)


def test_tokenizer_merges_splits_digits_and_keeps_special_tokens_whole(tmp_path):
    gguf_folder.write_folder(write_gguf(tmp_path / "m.gguf"), tmp_path / "hf")
    tokenizer = Tokenizer.from_file(str(tmp_path / "hf" / "tokenizer.json"))
    encoded = tokenizer.encode("<|im_start|>ab ab 12<|im_end|>")
    # merges apply inside a word ("Ġ ab"), never across SmolLM's one-digit split ("1 2" is never used)
    assert encoded.tokens == ["<|im_start|>", "ab", "Ġab", "Ġ", "1", "2", "<|im_end|>"]
    assert encoded.ids == [1, 8, 9, 5, 6, 7, 2]
    assert tokenizer.decode(encoded.ids, skip_special_tokens=True) == "ab ab 12"


def test_tool_template_is_the_gguf_chatml_without_tools_and_hermes_with_them(tmp_path):
    gguf_folder.write_folder(write_gguf(tmp_path / "m.gguf"), tmp_path / "hf")
    template = (tmp_path / "hf" / "tool_chat_template.jinja").read_text()
    for messages in ([{"role": "user", "content": "hi"}],
                     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                      {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "bye"}]):
        assert render(template, messages) == render(CHATML, messages)
    history = [{"role": "user", "content": "list"},
               {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "a.py"}]
    text = render(template, history, TOOLS)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face\n\n# Tools")
    assert json.dumps(TOOLS[0]) in text
    assert '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call><|im_end|>' in text
    assert text.endswith("<|im_start|>user\n<tool_response>\na.py\n</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_other_architectures_are_refused_with_the_fix(tmp_path):
    with pytest.raises(gguf_folder.GGUFFolderError, match="only 'llama'.*--hf-config-path"):
        gguf_folder.write_folder(write_gguf(tmp_path / "q.gguf", arch="qwen2"), tmp_path / "hf")


@pytest.fixture
def gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDINS}:{os.environ['PATH']}")
    monkeypatch.setenv("GPU_STANDIN_TAG", str(tmp_path))
    monkeypatch.setenv("ATLAS_REPO", str(REPO))
    monkeypatch.setenv("STANDIN_PYTHON", sys.executable)
    return tmp_path


def test_checks_run_through_the_managed_server_and_record_each_result(gpu):
    model = write_gguf(gpu / "SmolLM2.gguf")
    gguf_folder.write_folder(model, gpu / "hf")
    answers = gpu / "answers.json"
    answers.write_text(json.dumps([
        "The capital of France is Paris.", "Rome.",
        '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call>',
        '<tool_call>\n{"name": "bash", "arguments": ']))  # cut off: what the parser cannot read
    out = gpu / "res"
    main(["--gguf", str(model), "--hf", str(gpu / "hf"), "--out", str(out), "--launcher", str(STANDINS / "vllm"),
          "--server-arg=--answers", "--server-arg", str(answers)])
    rows = {r["part"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert list(rows) == ["env", "start", "chat", "tokenize", "prefix-cache", "tool-call", "stop"]
    assert rows["env"]["gguf_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert rows["env"]["gpu"] == "NVIDIA H100 80GB HBM3, 580.159.04"
    start = rows["start"]
    assert start["ok"] and start["start_s"] > 0 and start["vllm_version_logged"] == "0.26.0"
    argv = start["argv"]
    assert argv[2] == str(model) and argv[argv.index("--tokenizer") + 1] == str(gpu / "hf")
    assert argv[argv.index("--hf-config-path") + 1] == str(gpu / "hf")
    assert argv[argv.index("--chat-template") + 1] == str(gpu / "hf" / "tool_chat_template.jinja")
    assert {"--enable-auto-tool-choice", "--enable-prompt-tokens-details", "--enable-prefix-caching"} <= set(argv)
    assert argv[argv.index("--tool-call-parser") + 1] == "hermes"
    assert rows["chat"]["content"] == "The capital of France is Paris." and rows["chat"]["finish_reason"] == "stop"
    tokenize = rows["tokenize"]
    assert tokenize["equal"] and tokenize["atlas_exact"] and tokenize["tokenize_count"] == rows["chat"]["usage"]["prompt_tokens"] > 0
    assert rows["prefix-cache"]["cached"] and rows["prefix-cache"]["usage"]["cached_tokens"] > 0
    auto, named = rows["tool-call"]["auto"], rows["tool-call"]["named"]
    assert auto["valid"] and auto["calls"] == [{"name": "bash", "arguments": '{"command": "ls"}'}]
    assert auto["finish_reason"] == "tool_calls"
    assert not named["valid"] and named["calls"] == [] and "not JSON" in named["why"]
    assert named["raw"].startswith("<tool_call>") and named["tool_choice"]["function"]["name"] == "bash"
    assert rows["stop"]["exit_code"] == 0 and (out / "vllm.log").is_file()


def test_an_empty_first_reply_still_leaves_the_count_and_cache_checks(gpu):
    """vLLM's GGUF path answered blank lines on the H100: the chat check records the empty-reply error, the
    others still measure (no KeyError on the missing first reply)."""
    model = write_gguf(gpu / "SmolLM2.gguf")
    gguf_folder.write_folder(model, gpu / "hf")
    answers = gpu / "answers.json"
    answers.write_text(json.dumps(["\n\n\n"] * 4 + ["Rome.", "no call", "no call"]))
    out = gpu / "res"
    main(["--gguf", str(model), "--hf", str(gpu / "hf"), "--out", str(out), "--launcher", str(STANDINS / "vllm"),
          "--server-arg=--answers", "--server-arg", str(answers)])
    rows = {r["part"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert rows["chat"]["error"].startswith("EmptyReplyError")
    assert "error" not in rows["tokenize"] and rows["tokenize"]["prompt_tokens"] is None
    assert rows["tokenize"]["equal"] and rows["tokenize"]["tokenize_count"] > 0
    assert "error" not in rows["prefix-cache"] and rows["prefix-cache"]["content"] == "Rome."
    assert rows["stop"]["exit_code"] == 0


def test_a_failed_start_is_recorded_with_vllms_root_cause(gpu):
    model = write_gguf(gpu / "SmolLM2.gguf")
    gguf_folder.write_folder(model, gpu / "hf")
    out = gpu / "res"
    main(["--gguf", str(model), "--hf", str(gpu / "hf"), "--out", str(out), "--launcher", str(STANDINS / "vllm"),
          "--server-arg=--fail-kv-cache"])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["part"] for r in rows] == ["env", "start"]
    assert not rows[1]["ok"] and "To serve at least one request" in rows[1]["error"]
