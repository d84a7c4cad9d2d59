import pytest

import minicsv
from minicsv import Dialect, DialectError


def test_builtin_dialects_are_listed():
    assert {"excel", "excel-tab", "unix"} <= set(minicsv.list_dialects())


def test_get_dialect_with_overrides():
    d = minicsv.get_dialect("unix", delimiter=";")
    assert d.delimiter == ";" and d.lineterminator == "\n"
    assert minicsv.UNIX.delimiter == ","


def test_unknown_dialect():
    with pytest.raises(DialectError, match="unknown dialect"):
        minicsv.get_dialect("nope")


def test_unknown_option():
    with pytest.raises(DialectError, match="colour"):
        minicsv.get_dialect("excel", colour="red")


def test_invalid_delimiter():
    with pytest.raises(DialectError):
        Dialect(delimiter=";;")
    with pytest.raises(DialectError):
        Dialect(delimiter='"')


def test_register_dialect():
    d = minicsv.register_dialect("semicolon", delimiter=";")
    assert minicsv.get_dialect("semicolon") is d
    assert list(minicsv.reader(["a;b\n"], dialect="semicolon")) == [["a", "b"]]
