"""Model folders for measuring vLLM with dummy weights: each preset's real config.json, a local tokenizer.

    python -m bench.gpu_models --out models/      # one folder per preset, no weights

`vllm serve models/<preset> --load-format dummy` then allocates exactly the preset's weights
(random values), activations and KV cache, so memory and speed are the real model's; only the
text it writes is noise. The config.json files (bench/models/*.config.json) carry the numbers
of the public checkpoints (layers, heads, hidden sizes, vocabulary, quantization). The
tokenizer is a byte-level BPE trained here on Python sources, with the chat template and
special tokens of the preset's family, so chat requests, tool definitions and prompt
lengths go through vLLM's real chat path; its tokens are somewhat shorter than the real
tokenizer's, so token counts (not bytes) are what the benchmarks report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

CONFIGS = Path(__file__).parent / "models"

# ChatML as the Qwen family writes it, with Hermes-style tools (what `--tool-call-parser hermes`
# and `qwen3_coder`'s JSON fallback read back).
CHATML = """{%- if tools %}<|im_start|>system
{{ messages[0]['content'] if messages[0]['role'] == 'system' else 'You are a helpful assistant.' }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif messages[0]['role'] != 'system' %}<|im_start|>system
You are a helpful assistant.<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'system' %}{% if not tools %}<|im_start|>system
{{ message.content }}<|im_end|>
{% endif %}
{%- elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content or '' }}
{%- for call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments if call.function.arguments is string else call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

# Mistral's instruction format (Devstral), tools in [AVAILABLE_TOOLS].
MISTRAL = """{{ bos_token }}{%- if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}
{%- for message in messages %}
{%- if message.role == 'system' %}[SYSTEM_PROMPT]{{ message.content }}[/SYSTEM_PROMPT]
{%- elif message.role == 'user' %}[INST]{{ message.content }}[/INST]
{%- elif message.role == 'tool' %}[TOOL_RESULTS]{{ message.content }}[/TOOL_RESULTS]
{%- else %}{{ message.content or '' }}{% for call in message.tool_calls or [] %}[TOOL_CALLS][{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments }}}]{% endfor %}{{ eos_token }}
{%- endif %}
{%- endfor %}"""

FAMILIES = {
    "qwen": {"template": CHATML, "special": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>",
                                             "</tool_call>", "<tool_response>", "</tool_response>"],
             "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>"},
    "mistral": {"template": MISTRAL, "special": ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]",
                                                  "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]",
                                                  "[TOOL_CALLS]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"],
                "bos": "<s>", "eos": "</s>", "pad": "<unk>"},
}


def family(config: dict) -> str:
    return "mistral" if config["model_type"] == "mistral" else "qwen"


def training_text(limit_bytes: int) -> list[str]:
    """Python sources from this interpreter's library: code, like what agents read and write."""
    texts, total = [], 0
    for root in {Path(p) for p in sys.path if p and Path(p).is_dir() and "site-packages" not in p} | {Path(json.__file__).parent.parent}:
        for path in sorted(root.rglob("*.py")):
            try:
                text = path.read_text(errors="ignore")
            except OSError:
                continue
            texts.append(text)
            total += len(text)
            if total >= limit_bytes:
                return texts
    return texts


def train_tokenizer(kind: str, vocab_size: int, limit_bytes: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    spec = FAMILIES[kind]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=spec["special"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(training_text(limit_bytes), trainer)
    return tokenizer


def pad_vocabulary(path: Path, vocab_size: int) -> int:
    """Give every id the model can emit a token, as plain BPE entries (" w<id>") that no merge produces.

    A dummy-weight model samples ids across its whole vocabulary; without an entry the
    detokenizer would meet unknown ids. Returns how many entries were added.
    """
    data = json.loads(path.read_text())
    vocab = data["model"]["vocab"]
    taken = set(vocab.values()) | {token["id"] for token in data.get("added_tokens", [])}
    added = 0
    for token_id in range(vocab_size):
        if token_id not in taken:
            vocab[f"\u0120w{token_id}"] = token_id  # \u0120 is the byte-level form of a space
            added += 1
    path.write_text(json.dumps(data, ensure_ascii=False))
    return added


def tokenizer_config(kind: str) -> dict:
    spec = FAMILIES[kind]
    return {"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": spec["template"],
            "bos_token": spec["bos"], "eos_token": spec["eos"], "pad_token": spec["pad"],
            "model_max_length": 1 << 20, "clean_up_tokenization_spaces": False}


def write_models(out: Path, presets: list[str], vocab_size: int = 32000, limit_bytes: int = 40_000_000) -> list[Path]:
    tokenizers: dict[str, object] = {}
    written = []
    for preset in presets:
        source = CONFIGS / f"{preset}.config.json"
        if not source.is_file():
            raise SystemExit(f"no {source}: known presets are "
                             f"{', '.join(p.name.removesuffix('.config.json') for p in sorted(CONFIGS.glob('*.config.json')))}")
        config = json.loads(source.read_text())
        kind = family(config)
        if kind not in tokenizers:
            tokenizers[kind] = train_tokenizer(kind, vocab_size, limit_bytes)
        folder = out / preset
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "config.json")
        tokenizers[kind].save(str(folder / "tokenizer.json"))
        pad_vocabulary(folder / "tokenizer.json", config["vocab_size"])
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(kind), indent=1))
        written.append(folder)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", action="append", help="a preset (default: every bench/models/*.config.json)")
    parser.add_argument("--vocab-size", type=int, default=32000)
    options = parser.parse_args(argv)
    presets = options.preset or [p.name.removesuffix(".config.json") for p in sorted(CONFIGS.glob("*.config.json"))]
    for folder in write_models(Path(options.out), presets, options.vocab_size):
        print(folder)


if __name__ == "__main__":
    main()
