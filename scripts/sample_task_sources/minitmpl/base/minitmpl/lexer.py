"""Splitting template source into text, variable, block and comment tokens."""

import re
from typing import NamedTuple

from .errors import TemplateSyntaxError

TEXT, VAR, BLOCK, COMMENT = "text", "var", "block", "comment"

_TAG_RE = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.DOTALL)
_KINDS = {"{{": VAR, "{%": BLOCK, "{#": COMMENT}


class Token(NamedTuple):
    kind: str
    value: str
    lineno: int


def tokenize(source):
    """The tokens of `source`; tag contents are stripped of their delimiters and spaces."""
    tokens, lineno = [], 1
    for chunk in _TAG_RE.split(source):
        if not chunk:
            continue
        kind = _KINDS.get(chunk[:2]) if len(chunk) >= 4 and chunk[-2:] in ("}}", "%}", "#}") else None
        if kind is None:
            if re.search(r"{{|{%", chunk):
                raise TemplateSyntaxError("unclosed tag", lineno + chunk[: chunk.find("{")].count("\n"))
            tokens.append(Token(TEXT, chunk, lineno))
        else:
            tokens.append(Token(kind, chunk[2:-2].strip(), lineno))
        lineno += chunk.count("\n")
    return tokens
