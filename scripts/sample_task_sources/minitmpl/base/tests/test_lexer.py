import pytest

from minitmpl import TemplateSyntaxError
from minitmpl.lexer import BLOCK, COMMENT, TEXT, VAR, Token, tokenize


def test_tokenize_kinds():
    assert tokenize("a {{ x }} {% if y %}b{% endif %}{# c #}") == [
        Token(TEXT, "a ", 1),
        Token(VAR, "x", 1),
        Token(TEXT, " ", 1),
        Token(BLOCK, "if y", 1),
        Token(TEXT, "b", 1),
        Token(BLOCK, "endif", 1),
        Token(COMMENT, "c", 1),
    ]


def test_line_numbers():
    tokens = tokenize("one\ntwo {{ x }}\n{% if y %}")
    assert [(t.kind, t.lineno) for t in tokens] == [(TEXT, 1), (VAR, 2), (TEXT, 2), (BLOCK, 3)]


def test_plain_braces_are_text():
    assert tokenize("f(x) { return 1; }") == [Token(TEXT, "f(x) { return 1; }", 1)]


def test_unclosed_tag():
    with pytest.raises(TemplateSyntaxError, match="line 2: unclosed tag"):
        tokenize("ok\n{{ name ")
