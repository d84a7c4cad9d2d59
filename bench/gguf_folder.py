"""A Hugging Face folder for a GGUF file: config.json and tokenizer, read from the GGUF's own metadata.

    python -m bench.gguf_folder MODEL.gguf --out DIR      # needs the `gguf` and `tokenizers` packages

vLLM (with vllm-gguf-plugin) serves a GGUF file but takes its model config and tokenizer from
a Hugging Face folder (`--hf-config-path DIR --tokenizer DIR`). Where the base model's folder
cannot be downloaded, this one is derived offline: the architecture's sizes from the `llama.*`
keys, and a byte-level BPE tokenizer from `tokenizer.ggml.*` (tokens, merges, the special
tokens' ids) with the chat template the GGUF carries. transformers' own GGUF reading is not
used: it imports torch for metadata alone, and (4.57) it makes a GPT-2 vocabulary a Llama
tokenizer with <|im_start|> as end-of-sequence. Only the `llama` architecture with the `gpt2`
tokenizer model is mapped; anything else is refused with the fix.

The folder also gets `tool_chat_template.jinja`: the GGUF's ChatML with Hermes-style tool
calls (`<tool_call>{"name": ..., "arguments": ...}</tool_call>`, what vLLM's `hermes` parser
reads), for `--chat-template`. Without tools it renders exactly what the GGUF's template does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

TOKEN_CONTROL = 3  # gguf.TokenType.CONTROL: special tokens (<|im_start|> ...)

# The pre-tokenizer llama.cpp names in tokenizer.ggml.pre, as the model's own tokenizer.json has it.
PRE_TOKENIZERS = {
    # SmolLM: every digit alone, then GPT-2's byte-level split
    "smollm": lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
    "gpt-2": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
}

TOOL_TEMPLATE = """\
{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}{%- set rest = messages[1:] %}
{%- else %}{%- set system = DEFAULT_SYSTEM %}{%- set rest = messages %}{%- endif %}
{{- '<|im_start|>system\\n' + system }}
{%- if tools %}
{{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call>' }}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- for message in rest %}
{%- if message['role'] == 'assistant' and message.get('tool_calls') %}
{{- '<|im_start|>assistant\\n' + (message['content'] or '') }}
{%- for call in message['tool_calls'] %}
{%- set function = call['function'] if call.get('function') else call %}
{%- set arguments = function['arguments'] if function['arguments'] is string else (function['arguments'] | tojson) %}
{{- '\\n<tool_call>\\n{"name": "' + function['name'] + '", "arguments": ' + arguments + '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message['role'] == 'tool' %}
{%- if loop.first or rest[loop.index0 - 1]['role'] != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>' }}
{%- if loop.last or rest[loop.index0 + 1]['role'] != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- else %}
{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""


class GGUFFolderError(ValueError):
    """The GGUF lacks what a Hugging Face folder needs, or uses an architecture not mapped here."""


def read_metadata(path: Path) -> tuple[dict, list[str]]:
    """(every metadata key -> value, tensor names) of a GGUF file, without reading any tensor."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    return fields, [tensor.name for tensor in reader.tensors]


def hf_config(meta: dict, tensors: list[str]) -> dict:
    """config.json of the model (Llama family), from the GGUF's `llama.*` keys."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise GGUFFolderError(f"general.architecture is {arch!r}: only 'llama' is mapped here; pass the base "
                              "model's Hugging Face folder to vLLM instead (--hf-config-path and --tokenizer)")
    hidden, heads = int(meta["llama.embedding_length"]), int(meta["llama.attention.head_count"])
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": int(meta["llama.feed_forward_length"]),
        "num_hidden_layers": int(meta["llama.block_count"]), "num_attention_heads": heads,
        "num_key_value_heads": int(meta.get("llama.attention.head_count_kv", heads)),
        "head_dim": int(meta.get("llama.rope.dimension_count", hidden // heads)),
        "max_position_embeddings": int(meta["llama.context_length"]),
        "rms_norm_eps": float(meta["llama.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(meta.get("llama.rope.freq_base", 10000.0)),
        "vocab_size": int(meta.get("llama.vocab_size", len(meta["tokenizer.ggml.tokens"]))),
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        # no output.weight in the file: the head is the embedding matrix
        "tie_word_embeddings": "output.weight" not in tensors,
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"), "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "pad_token_id": meta.get("tokenizer.ggml.padding_token_id"),
        "torch_dtype": "bfloat16",  # activations; the weights stay in the GGUF's quantization
    }


def tokenizer(meta: dict) -> Tokenizer:
    """The byte-level BPE tokenizer the GGUF describes (vocabulary, merges, pre-tokenizer, special tokens)."""
    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise GGUFFolderError(f"tokenizer.ggml.model is {meta.get('tokenizer.ggml.model')!r}: only 'gpt2' (byte-level "
                              "BPE) is mapped here; pass the base model's tokenizer folder to vLLM (--tokenizer)")
    pre = meta.get("tokenizer.ggml.pre", "gpt-2")
    if pre not in PRE_TOKENIZERS:
        raise GGUFFolderError(f"tokenizer.ggml.pre {pre!r} is not mapped here (known: {', '.join(PRE_TOKENIZERS)}); "
                              "pass the base model's tokenizer folder to vLLM (--tokenizer)")
    tokens = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(merge.split(" ", 1)) for merge in meta["tokenizer.ggml.merges"]]
    built = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(tokens)}, merges=merges))
    built.pre_tokenizer = PRE_TOKENIZERS[pre]()
    built.decoder = decoders.ByteLevel()
    built.post_processor = processors.ByteLevel(trim_offsets=False)
    types = meta.get("tokenizer.ggml.token_type", [])
    built.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                              for i, kind in enumerate(types) if kind == TOKEN_CONTROL])
    return built


def tokenizer_config(meta: dict) -> dict:
    """tokenizer_config.json: the special tokens by the GGUF's ids and its chat template."""
    tokens = meta["tokenizer.ggml.tokens"]

    def token(key: str) -> str | None:
        index = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[int(index)] if index is not None else None

    if not meta.get("tokenizer.chat_template"):
        raise GGUFFolderError("the GGUF has no tokenizer.chat_template: give vLLM one with --chat-template")
    return {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": token("bos"), "eos_token": token("eos"),
            "unk_token": token("unknown"), "pad_token": token("padding"),
            "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
            "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
            "model_max_length": int(meta["llama.context_length"]), "clean_up_tokenization_spaces": False,
            "chat_template": meta["tokenizer.chat_template"]}


def default_system(template: str) -> str:
    """The system prompt a ChatML template inserts when the conversation has none."""
    start = "<|im_start|>system\n"
    if start not in template:
        raise GGUFFolderError("the GGUF's chat template is not ChatML (no '<|im_start|>system'): the tool template "
                              "here would not match it; write one for this model and pass it with --chat-template")
    return template.split(start, 1)[1].split("<|im_end|>", 1)[0]


def tool_template(meta: dict) -> str:
    """The Hermes tool-call template, with the GGUF template's default system prompt."""
    system = default_system(meta["tokenizer.chat_template"])
    return "{%- set DEFAULT_SYSTEM = " + json.dumps(system) + " %}\n" + TOOL_TEMPLATE


def write_folder(gguf_path: Path, out: Path) -> dict:
    """Write config.json, tokenizer.json, tokenizer_config.json, generation_config.json and
    tool_chat_template.jinja for `gguf_path` into `out`; returns a summary."""
    meta, tensors = read_metadata(gguf_path)
    out.mkdir(parents=True, exist_ok=True)
    config = hf_config(meta, tensors)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    tokenizer(meta).save(str(out / "tokenizer.json"))
    settings = tokenizer_config(meta)
    (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=1) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}, indent=1) + "\n")
    (out / "tool_chat_template.jinja").write_text(tool_template(meta))
    return {"name": meta.get("general.name"), "architecture": meta["general.architecture"],
            "context_length": config["max_position_embeddings"], "vocab_size": config["vocab_size"],
            "eos_token": settings["eos_token"], "files": sorted(p.name for p in out.iterdir())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf", type=Path, help="the .gguf file")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created if missing)")
    options = parser.parse_args(argv)
    try:
        print(json.dumps(write_folder(options.gguf, options.out)))
    except GGUFFolderError as error:
        raise SystemExit(f"{options.gguf}: {error}") from None


if __name__ == "__main__":
    main()
