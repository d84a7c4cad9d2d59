"""Model folders for measuring vLLM with dummy weights: each preset's real config.json, a local tokenizer.

    python -m bench.gpu_models --out models/      # one folder per preset, no weights
    python -m bench.gpu_models --out models/ --tiktoken encodings/o200k_base.tiktoken   # gpt-oss's own tokenizer

`vllm serve models/<preset> --load-format dummy` then allocates exactly the preset's weights
(random values), activations and KV cache, so memory and speed are the real model's; only the
text it writes is noise. The config.json files (bench/models/*.config.json) carry the numbers
of the public checkpoints (layers, heads, hidden sizes, vocabulary, quantization). The
tokenizer is a byte-level BPE trained here on Python sources, with the chat template and
special tokens of the preset's family, so chat requests, tool definitions and prompt
lengths go through vLLM's real chat path; its tokens are somewhat shorter than the real
tokenizer's, so token counts (not bytes) are what the benchmarks report.

Families: Qwen (ChatML, Hermes-style tools), Mistral (Devstral; Devstral Small 2's Mistral3
wrapper also gets the Pixtral processor files vLLM loads for a multimodal model) and harmony
(gpt-oss: its channels and tool-call headers as special tokens). vLLM renders gpt-oss prompts
through the openai_harmony package, whose o200k encoding it reads from TIKTOKEN_ENCODINGS_BASE
on a host without network: copy the encoding file there before serving. Those prompts are in
o200k_harmony's ids whatever the folder holds, so with `--tiktoken` (the same file, from
`bench.tiktoken_file`) gpt-oss's folder gets o200k_harmony itself, rebuilt from the ranks: vLLM's
grammars, detokenizer and harmony parser then read the ids the renderer wrote. A preset whose
config.json is its base preset's (the -fp8kv variants) uses the base's file.
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

# gpt-oss's harmony format (the shape of its published chat template): a system header with the
# channels, tools as a TypeScript-like namespace in the developer message, tool calls on the
# commentary channel addressed `to=functions.NAME`, answers on the final channel.
HARMONY = """<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
Reasoning: medium

# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>
{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else '' %}
{%- if system or tools %}<|start|>developer<|message|>{% if system %}# Instructions

{{ system }}{% endif %}{% if tools %}

# Tools

## functions

namespace functions {
{% for tool in tools %}
// {{ tool.function.description }}
type {{ tool.function.name }} = (_: {{ tool.function.parameters | tojson }}) => any;
{% endfor %}
} // namespace functions{% endif %}<|end|>{% endif %}
{%- for message in messages %}
{%- if message.role == 'user' %}<|start|>user<|message|>{{ message.content }}<|end|>
{%- elif message.role == 'tool' %}<|start|>functions.{{ message.name or 'bash' }} to=assistant<|channel|>commentary<|message|>{{ message.content }}<|end|>
{%- elif message.role == 'assistant' %}
{%- for call in message.tool_calls or [] %}<|start|>assistant to=functions.{{ call.function.name }}<|channel|>commentary <|constrain|>json<|message|>{{ call.function.arguments if call.function.arguments is string else call.function.arguments | tojson }}<|call|>{% endfor %}
{%- if message.content %}<|start|>assistant<|channel|>final<|message|>{{ message.content }}<|end|>{% endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|start|>assistant{% endif %}"""

FAMILIES = {
    "qwen": {"template": CHATML, "special": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>",
                                             "</tool_call>", "<tool_response>", "</tool_response>"],
             "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>"},
    "mistral": {"template": MISTRAL, "special": ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]",
                                                  "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]",
                                                  "[TOOL_CALLS]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[IMG]",
                                                  "[IMG_BREAK]", "[IMG_END]"],
                "bos": "<s>", "eos": "</s>", "pad": "<unk>"},
    "harmony": {"template": HARMONY, "special": ["<|startoftext|>", "<|endoftext|>", "<|start|>", "<|end|>",
                                                 "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>",
                                                 "<|call|>"],
                "bos": "<|startoftext|>", "eos": "<|return|>", "pad": "<|endoftext|>"},
}

# What vLLM's Mistral3 (Pixtral vision) path loads besides the tokenizer: its image processor.
PIXTRAL_FILES = {
    "preprocessor_config.json": {"image_processor_type": "PixtralImageProcessor", "patch_size": {"height": 14, "width": 14},
                                 "size": {"longest_edge": 1540}, "do_resize": True, "do_rescale": True,
                                 "do_normalize": True, "do_convert_rgb": True, "rescale_factor": 1 / 255,
                                 "image_mean": [0.48145466, 0.4578275, 0.40821073],
                                 "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3},
    "processor_config.json": {"processor_class": "PixtralProcessor", "patch_size": 14, "spatial_merge_size": 2,
                              "image_token": "[IMG]", "image_break_token": "[IMG_BREAK]", "image_end_token": "[IMG_END]"},
}


def family(config: dict) -> str:
    kind = config["model_type"]
    return {"mistral": "mistral", "mistral3": "mistral", "gpt_oss": "harmony"}.get(kind, "qwen")


def emitted_vocabulary(config: dict) -> int:
    """The vocabulary the model emits from (a multimodal wrapper keeps it in text_config)."""
    return config.get("vocab_size") or config["text_config"]["vocab_size"]


def config_source(preset: str) -> Path:
    """bench/models/<preset>.config.json, else its base preset's (a variant such as -fp8kv shares the weights)."""
    source = CONFIGS / f"{preset}.config.json"
    if source.is_file():
        return source
    from bench.gpu_server import conf_dir

    import yaml

    path = conf_dir() / "model" / f"{preset}.yaml"
    bases = [d for d in (yaml.safe_load(path.read_text()) or {}).get("defaults", []) if d != "_self_"] if path.is_file() else []
    for base in bases:
        if base != "vllm":
            return config_source(base)
    raise SystemExit(f"no {source}: known presets are "
                     f"{', '.join(p.name.removesuffix('.config.json') for p in sorted(CONFIGS.glob('*.config.json')))}")


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


# o200k's split rule (tiktoken's o200k_base, its case-insensitive contractions spelled out)
O200K_PATTERN = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"])
# gpt-oss's o200k_harmony: o200k_base's ranks, then these specials; every other id from 199998 to 201087 is
# <|reserved_N|> (openai_harmony's table; 200018 is o200k_base's own <|endofprompt|>)
HARMONY_SPECIALS = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
                    "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008,
                    "<|call|>": 200012, "<|endofprompt|>": 200018}


def read_tiktoken(path: Path) -> dict[bytes, int]:
    """A .tiktoken file (`<base64 token> <rank>` a line) as token bytes -> rank."""
    import base64

    ranks = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def bpe_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list that reproduces tiktoken's ranks: each multi-byte token split as BPE would build it
    from ranks below its own (the two parts left are its merge), in rank order."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = [token[i:i + 1] for i in range(len(token))]
        while len(parts) > 2:
            pairs = [(ranks.get(a + b, rank), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            best, at = min(pairs)
            if best >= rank:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2:
            raise ValueError(f"rank {rank}: {token!r} is not the merge of two lower-ranked tokens")
        merges.append((parts[0], parts[1]))
    return merges


def harmony_tokenizer(tiktoken_path: Path):
    """gpt-oss's own tokenizer (o200k_harmony) from o200k_base.tiktoken: the ids vLLM's harmony renderer and
    parser use, so that prompts, grammars and parsed replies agree on every token."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    ranks = read_tiktoken(tiktoken_path)
    table = _bytes_to_unicode()

    def spell(token: bytes) -> str:
        return "".join(table[b] for b in token)

    vocab = {spell(token): rank for token, rank in ranks.items()}
    merges = [(spell(a), spell(b)) for a, b in bpe_merges(ranks)]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(O200K_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    named = {rank: name for name, rank in HARMONY_SPECIALS.items()}
    specials = [named.get(i, f"<|reserved_{i}|>") for i in range(len(ranks), 201088)]
    tokenizer.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in specials])
    return tokenizer


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as the printable character byte-level BPE stores it as."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1), *range(ord("\xae"), ord("\xff") + 1)]
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


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


def write_models(out: Path, presets: list[str], vocab_size: int = 32000, limit_bytes: int = 40_000_000,
                 tiktoken: Path | None = None) -> list[Path]:
    """A folder per preset; with `tiktoken` (o200k_base.tiktoken) gpt-oss gets its real o200k_harmony tokenizer."""
    tokenizers: dict[str, object] = {}
    written = []
    for preset in presets:
        source = config_source(preset)
        config = json.loads(source.read_text())
        kind = family(config)
        if kind not in tokenizers:
            tokenizers[kind] = (harmony_tokenizer(tiktoken) if kind == "harmony" and tiktoken
                                else train_tokenizer(kind, vocab_size, limit_bytes))
        folder = out / preset
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "config.json")
        # vLLM takes a model's stop tokens from its generation_config.json even with --generation-config vllm:
        # without gpt-oss's, <|call|> never ended a turn and harmony's parser failed on what followed (H100, 2026-12-07)
        generation = source.with_name(source.name.replace(".config.json", ".generation_config.json"))
        if generation.is_file():
            shutil.copyfile(generation, folder / "generation_config.json")
        tokenizers[kind].save(str(folder / "tokenizer.json"))
        pad_vocabulary(folder / "tokenizer.json", emitted_vocabulary(config))
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(kind), indent=1))
        if config["model_type"] == "mistral3":
            for name, content in PIXTRAL_FILES.items():
                (folder / name).write_text(json.dumps(content, indent=1))
        written.append(folder)
    return written


def every_preset() -> list[str]:
    """The presets with a config.json here, and the variants (conf/model/*.yaml) built on one of them."""
    from atlas.preset_plans import preset_names
    from bench.gpu_server import conf_dir

    own = {p.name.removesuffix(".config.json") for p in CONFIGS.glob("*.config.json")}
    variants = set()
    for name in preset_names(conf_dir()):
        try:
            config_source(name)
            variants.add(name)
        except SystemExit:
            continue
    return sorted(own | variants)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", action="append", help="a preset (default: every preset with a config.json here, "
                                                          "its own or its base's)")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--tiktoken", type=Path, help="o200k_base.tiktoken (bench.tiktoken_file): gpt-oss gets its own "
                                                      "o200k_harmony tokenizer instead of a trained one")
    options = parser.parse_args(argv)
    presets = options.preset or every_preset()
    for folder in write_models(Path(options.out), presets, options.vocab_size, tiktoken=options.tiktoken):
        print(folder)


if __name__ == "__main__":
    main()
