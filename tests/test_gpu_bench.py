"""The GPU benchmark's CPU-side parts: vLLM log and /metrics parsing, card emulation, presets, model folders."""

import json
from pathlib import Path

import jinja2
import pytest

from atlas.models.vllm_server import serve_arguments
from bench.gpu_bench import serve_estimate_s
from bench.gpu_server import emulated_utilization, load_preset, managed_model
from bench.gpu_models import (CHATML, FAMILIES, HARMONY, HARMONY_SPECIALS, MISTRAL, bpe_merges, config_source, family,
                              harmony_tokenizer, pad_vocabulary, tokenizer_config,
                               write_models)
from bench.tiktoken_file import ranks_from_module, tiktoken_lines
from bench.vllm_log import parse_log, parse_metrics, prefix_hit_rate

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "2026-11-25-h100"
PLANNER_RESULTS = RESULTS.parent / "2026-11-25-h100-planner"
MODELS = Path(__file__).resolve().parent.parent / "bench" / "models"


def test_parse_log_reads_the_h100_start():
    figures = parse_log((RESULTS / "managed-vllm.log").read_text())
    assert figures["weights_gib"] == 9.53 and figures["kv_available_gib"] == 2.95
    assert figures["kv_tokens"] == 16_096 and figures["max_model_len"] == 14_336
    assert figures["graph_capture_gib"] == 1.33 and figures["init_engine_s"] == 70.36


def test_parse_log_reads_a_start_that_did_not_fit():
    figures = parse_log((RESULTS / "kv-qwen2.5-coder-32b-awq-24.log").read_text())
    assert figures["weights_gib"] == 18.49 and figures["kv_available_gib"] == 1.16
    assert figures["estimated_max_model_len"] == 4720 and "kv_tokens" not in figures


def test_parse_log_reads_a_pinned_kv_cache():
    """With --kv-cache-memory-bytes vLLM logs what it reserved instead of what profiling left."""
    figures = parse_log((PLANNER_RESULTS / "table2-qwen2.5-coder-14b-awq-16.log").read_text())
    assert figures["weights_gib"] == 9.53 and figures["kv_reserved_gib"] == 3.42 and figures["kv_tokens"] == 18_688
    assert "kv_available_gib" not in figures and figures["max_model_len"] == 18_432


def test_metrics_and_prefix_hit_rate():
    before = parse_metrics('# HELP x\nvllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0\n'
                           'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 900.0\n'
                           'vllm:generation_tokens_total{model_name="m"} 10\nother_metric 5\n')
    after = parse_metrics('vllm:prefix_cache_queries_total{engine="0",model_name="m"} 3000.0\n'
                          'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 2700.0\n'
                          'vllm:generation_tokens_total{model_name="m"} 1.5e3\n')
    assert "other_metric" not in before and after["vllm:generation_tokens_total"] == 1500.0
    assert prefix_hit_rate(before, after) == pytest.approx(0.9)
    assert prefix_hit_rate(after, after) is None


def test_emulated_card():
    # 16 GiB at 90% on the H100's 79.65 GiB asks for what a 16 GiB card would: 14.4 GiB
    assert emulated_utilization(16, 0.9, 79.65) == 0.1808
    assert emulated_utilization(24, 0.9, 79.65) * 79.65 == pytest.approx(21.6, abs=0.01)


def test_bench_servers_hold_forced_tool_calls_to_compact_json():
    """Dummy weights pad a whitespace-tolerant JSON grammar until max_tokens; xgrammar without whitespace ends the call."""
    def argv(preset: str, card: float = 24) -> list[str]:
        model = managed_model("vllm", Path("/models") / preset, preset, card, 79.65)
        return serve_arguments(model._sized_server(), preset, 8000)

    hermes = argv("qwen2.5-coder-14b-awq")
    config = json.loads(hermes[hermes.index("--structured-outputs-config") + 1])
    assert config == {"backend": "xgrammar", "disable_any_whitespace": True}
    assert hermes[hermes.index("--load-format") + 1] == "dummy" and "--tool-call-parser" in hermes
    # the mistral parser takes the same JSON-schema path with the bench's Hugging Face tokenizer
    devstral = argv("devstral-small-2-awq")
    assert json.loads(devstral[devstral.index("--structured-outputs-config") + 1]) == config
    server = managed_model("vllm", Path("/models/q"), "qwen2.5-coder-14b-awq", 24, 79.65).settings.server
    assert server.env["VLLM_ENFORCE_STRICT_TOOL_CALLING"].get_secret_value() == "0"  # else the parser's tag, blanks and all


def test_gpt_oss_graphs_cover_every_decode_batch_the_plan_allows():
    """vLLM's gpt-oss override captures graphs to 1,024 (0.49 GiB); the preset's cap must still cover the planned batches."""
    for card in (24, 32):
        model = managed_model("vllm", Path("/models/g"), "gpt-oss-20b", card, 79.65)
        argv = serve_arguments(model._sized_server(), "gpt-oss-20b", 8000)
        cap, seqs = (int(argv[argv.index(flag) + 1]) for flag in ("--max-cudagraph-capture-size", "--max-num-seqs"))
        assert 2 * seqs <= cap < 1024


def test_a_presets_utilization_share_reaches_its_plan_and_its_server():
    """--utilization gpt-oss-20b=0.96: a 16 GiB card with nothing else on it, planned and started at that share."""
    from bench.gpu_table import plan_rows, preset_values

    shares = preset_values(["gpt-oss-20b=0.96"])
    default, shared = (plan_rows(["gpt-oss-20b", "qwen2.5-coder-7b-awq"], [16], {"gpt-oss-20b": 1.45}, u)
                       for u in (None, shares))
    assert not default[0].plan["fits"] and shared[0].plan["fits"] and shared[0].plan["recommended_workers"] == 1
    assert shared[0].plan["gpu_memory_utilization"] == 0.96 and shared[1].plan == default[1].plan  # that preset only
    model = managed_model("vllm", Path("/models/g"), "gpt-oss-20b", 16, 79.65, overhead_gib=1.45, utilization=0.96)
    argv = serve_arguments(model._sized_server(), "gpt-oss-20b", 8000)
    assert argv[argv.index("--gpu-memory-utilization") + 1] == str(emulated_utilization(16, 0.96, 79.65))
    assert argv[argv.index("--max-num-seqs") + 1] == "1"


PRESETS = ("qwen2.5-coder-14b-awq", "qwen2.5-coder-32b-awq", "qwen3-coder-30b-a3b", "devstral-small", "gpt-oss-20b",
           "devstral-small-2-awq", "devstral-small-2-awq-fp8kv", "qwen2.5-coder-7b-awq", "qwen2.5-coder-14b-awq-fp8kv")


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_compose_and_match_their_configs(preset):
    """Each preset's architecture is its config.json's (a multimodal wrapper's text_config; sliding layers from layer_types)."""
    composed = load_preset(preset)
    assert composed["backend"] == "vllm" and composed["server"]["command"] == ["vllm", "serve"]
    config = json.loads(config_source(preset).read_text())
    text = config.get("text_config", config)
    arch = composed["architecture"]
    assert arch["layers"] == text["num_hidden_layers"] and arch["kv_heads"] == text["num_key_value_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    assert arch["head_dim"] == head_dim and arch["max_position"] == text["max_position_embeddings"]
    assert arch.get("sliding_layers", 0) == text.get("layer_types", []).count("sliding_attention")
    assert composed["server"]["tool_call_parser"]


def test_presets_carry_parsers_sampling_and_kv_dtype():
    assert load_preset("qwen2.5-coder-14b-awq")["server"]["quantization"] == "awq_marlin"
    gpt_oss = load_preset("gpt-oss-20b")
    assert (gpt_oss["server"]["tool_call_parser"], gpt_oss["server"]["reasoning_parser"]) == ("openai", "openai_gptoss")
    assert gpt_oss["recommended_sampling"] == {"temperature": 1.0, "top_p": 1.0} and gpt_oss["temperature"] == 0.0
    assert load_preset("devstral-small-2-awq")["server"]["tool_call_parser"] == "mistral"
    for variant, base in (("qwen2.5-coder-14b-awq-fp8kv", "qwen2.5-coder-14b-awq"),
                          ("devstral-small-2-awq-fp8kv", "devstral-small-2-awq")):
        assert load_preset(variant)["server"]["kv_cache_dtype"] == "fp8"
        # the same model: only the overhead the variant's own servers held may differ
        shape = [{k: v for k, v in load_preset(name)["architecture"].items() if k != "overhead_gib"} for name in (variant, base)]
        assert shape[0] == shape[1]
        assert config_source(variant) == config_source(base) == MODELS / f"{base}.config.json"
    # FlashAttention 3's FP8 path writes BF16 only: the 14B's float16 AWQ checkpoint must run in bfloat16
    assert load_preset("qwen2.5-coder-14b-awq-fp8kv")["server"]["dtype"] == "bfloat16"
    assert load_preset("qwen2.5-coder-14b-awq")["server"].get("dtype") is None


def test_pad_vocabulary_gives_every_id_a_token(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"added_tokens": [{"id": 0, "content": "<|im_end|>"}],
                                "model": {"type": "BPE", "vocab": {"a": 1, "b": 2}, "merges": []}}))
    assert pad_vocabulary(path, 6) == 3
    vocab = json.loads(path.read_text())["model"]["vocab"]
    assert sorted(vocab.values()) == [1, 2, 3, 4, 5] and vocab["\u0120w5"] == 5


def render(template: str, **context) -> str:
    env = jinja2.Environment()
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(**context)


def test_chat_templates_carry_tools_and_tool_results():
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "list"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
                {"role": "tool", "content": "a.py"}]
    qwen = render(CHATML, messages=messages, tools=tools, add_generation_prompt=True)
    assert '"name": "bash"' in qwen and "<tool_call>" in qwen and "<tool_response>\na.py" in qwen
    assert qwen.startswith("<|im_start|>system\nbe brief") and qwen.endswith("<|im_start|>assistant\n")
    mistral = render(MISTRAL, messages=messages, tools=tools, bos_token="<s>", eos_token="</s>")
    assert mistral.startswith("<s>[AVAILABLE_TOOLS]") and "[TOOL_RESULTS]a.py[/TOOL_RESULTS]" in mistral
    assert family({"model_type": "mistral"}) == "mistral" and tokenizer_config("qwen")["eos_token"] == "<|im_end|>"
    assert family({"model_type": "mistral3"}) == "mistral" and family({"model_type": "gpt_oss"}) == "harmony"


def test_harmony_template_puts_tools_calls_and_results_on_their_channels():
    tools = [{"type": "function", "function": {"name": "bash", "description": "Run a command.",
                                               "parameters": {"type": "object"}}}]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "list"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
                {"role": "tool", "name": "bash", "content": "a.py"}, {"role": "assistant", "content": "done"}]
    text = render(HARMONY, messages=messages, tools=tools, add_generation_prompt=True)
    assert text.startswith("<|start|>system<|message|>") and "# Instructions\n\nbe brief" in text
    assert "type bash = (_: {\"type\": \"object\"}) => any;" in text
    assert '<|start|>assistant to=functions.bash<|channel|>commentary <|constrain|>json<|message|>{"command": "ls"}<|call|>' in text
    assert "<|start|>functions.bash to=assistant<|channel|>commentary<|message|>a.py<|end|>" in text
    assert "<|start|>assistant<|channel|>final<|message|>done<|end|>" in text and text.endswith("<|start|>assistant")
    assert all(token in FAMILIES["harmony"]["special"] for token in ("<|channel|>", "<|call|>", "<|return|>"))


def test_model_folders_for_the_new_families(tmp_path):
    """gpt-oss gets the harmony tokenizer at its 201,088-token vocabulary; Devstral Small 2's Mistral3 wrapper its
    Pixtral processor files; an -fp8kv variant its base's config.json."""
    written = write_models(tmp_path, ["gpt-oss-20b", "devstral-small-2-awq", "qwen2.5-coder-14b-awq-fp8kv"],
                           vocab_size=400, limit_bytes=200_000)
    gpt_oss, devstral, variant = written
    vocab = json.loads((gpt_oss / "tokenizer.json").read_text())["model"]["vocab"]
    added = json.loads((gpt_oss / "tokenizer.json").read_text())["added_tokens"]
    assert max([*vocab.values(), *(t["id"] for t in added)]) == 201_087
    assert json.loads((gpt_oss / "tokenizer_config.json").read_text())["eos_token"] == "<|return|>"
    # harmony's turn ends at <|call|> as well as <|return|>: vLLM reads those stop ids from generation_config.json
    stops = json.loads((gpt_oss / "generation_config.json").read_text())["eos_token_id"]
    assert {HARMONY_SPECIALS["<|call|>"], HARMONY_SPECIALS["<|return|>"]} <= set(stops)
    assert not (devstral / "generation_config.json").exists()
    assert json.loads((devstral / "processor_config.json").read_text())["image_token"] == "[IMG]"
    assert (devstral / "preprocessor_config.json").is_file() and not (gpt_oss / "preprocessor_config.json").exists()
    assert json.loads((variant / "config.json").read_text())["quantization_config"]["quant_method"] == "awq"


def test_a_window_reserves_time_for_vllms_own_run_at_its_concurrency():
    # the H100 run: vLLM's own took 51 s at 4 streams, then 135 s at 8, past a 560 s limit
    assert serve_estimate_s([], 8) == 40.0 and serve_estimate_s([None], 2) == 40.0
    serves = [{"concurrency": 2, "duration": 16.6}, None, {"concurrency": 4, "duration": 51.0}]
    assert serve_estimate_s(serves, 8) == 102.0 and serve_estimate_s(serves, 1) == 40.0


def test_forced_tool_calls_on_the_h100_are_valid_only_without_the_strict_structural_tag():
    """table3 ran with vLLM's default strict tool calling (the hermes tag's JSON takes any blanks), table4 without."""
    def row(name: str) -> dict:
        records = [json.loads(line) for line in (RESULTS.parent / "2026-11-25-h100-traffic" / name).read_text().splitlines()]
        return next(r for r in records if r["part"] == "table" and (r["preset"], r["card_gib"]) == ("qwen2.5-coder-14b-awq", 16))

    strict, schema_only = row("table3.jsonl"), row("table4.jsonl")
    assert not strict["tool_call"]["valid"] and strict["tool_call"]["error"].startswith("JSONDecodeError")
    traffic = (RESULTS.parent / "2026-11-25-h100-traffic" / "traffic4.jsonl").read_text().splitlines()
    raw = next(json.loads(line) for line in traffic if '"tool-calls"' in line)["named"]
    assert raw["raw"].count("<tool_call>") == 1 and '\\"arguments\\": {\\n' in raw["raw"]  # the tag, then blanks
    assert '"finish_reason":"length"' in raw["raw"] and not raw["valid"]
    assert schema_only["tool_call"]["valid"] and schema_only["tool_call"]["finish_reason"] == "stop"
    assert schema_only["tool_calls_raw"]["named"]["valid"] and schema_only["tool_calls_raw"]["named_stream"]["valid"]


def tiny_ranks() -> dict[bytes, int]:
    """A tiktoken-style rank table: the 256 bytes, then merges built only from lower ranks ("ab" before "abc")."""
    ranks = {bytes([b]): b for b in range(256)}
    for token in (b"ab", b"abc", b"abcd", b" a", b"de"):
        ranks[token] = len(ranks)
    return ranks


def test_bpe_merges_rebuild_each_token_from_two_lower_ranked_parts():
    assert bpe_merges(tiny_ranks()) == [(b"a", b"b"), (b"ab", b"c"), (b"abc", b"d"), (b" ", b"a"), (b"d", b"e")]
    with pytest.raises(ValueError, match="not the merge"):
        bpe_merges({**{bytes([b]): b for b in range(256)}, b"xyz": 256})  # no rank for "xy" or "yz"


def test_harmony_tokenizer_keeps_tiktoken_ids_and_harmony_specials(tmp_path):
    import base64

    path = tmp_path / "o200k_base.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in tiny_ranks().items()))
    tokenizer = harmony_tokenizer(path)
    ranks = tiny_ranks()
    assert tokenizer.encode("abcd").ids == [ranks[b"abcd"]]  # merged as tiktoken would, not byte by byte
    assert tokenizer.encode("xabcde").ids == [ranks[b"x"], ranks[b"abcd"], ranks[b"e"]]
    assert tokenizer.encode("xabde").ids == [ranks[b"x"], ranks[b"ab"], ranks[b"de"]]
    assert tokenizer.encode("<|start|>assistant<|channel|>").ids[0] == HARMONY_SPECIALS["<|start|>"] == 200006
    assert tokenizer.token_to_id("<|call|>") == 200012 and tokenizer.token_to_id("<|reserved_201087|>") == 201087
    assert tokenizer.get_vocab_size() == 201088 and tokenizer.decode(tokenizer.encode("a cd").ids) == "a cd"


def test_js_tiktoken_ranks_expand_to_a_tiktoken_file():
    module = 'export default {"pat_str":"x","special_tokens":{},"bpe_ranks":"! 0 YQ== Yg==\\n! 5 YWI="};'
    ranks = ranks_from_module(module)
    assert tiktoken_lines(ranks["bpe_ranks"]) == b"YQ== 0\nYg== 1\nYWI= 5\n"


def test_the_harmony_call_tag_names_special_tokens_by_id():
    """vLLM checks a structural tag before it has a tokenizer: token names there are refused (H100, 2026-12-07),
    ids pass. The tag writes one harmony turn: analysis, then a call of bash held to its schema."""
    from bench.gpu_table import BASH_TOOL, harmony_call_tag

    elements = harmony_call_tag()["format"]["elements"]
    tokens = [e["token"] for e in elements if e["type"] == "token"]
    ids = {v: k for k, v in HARMONY_SPECIALS.items()}
    assert all(isinstance(t, int) for t in tokens)
    assert [ids[t] for t in tokens] == ["<|channel|>", "<|message|>", "<|end|>", "<|start|>", "<|channel|>",
                                        "<|constrain|>", "<|message|>", "<|call|>"]
    assert {"type": "const_string", "value": "commentary to=functions.bash "} in elements
    assert any(e["type"] == "json_schema" and e["json_schema"] == BASH_TOOL["function"]["parameters"] for e in elements)
