import pytest

import minicsv
from minicsv import CSVError


def rows(text, **kwargs):
    return list(minicsv.reader(text.splitlines(keepends=True), **kwargs))


def test_simple_rows():
    assert rows("a,b,c\n1,2,3\n") == [["a", "b", "c"], ["1", "2", "3"]]


def test_empty_fields():
    assert rows("a,,c\n,\n") == [["a", "", "c"], ["", ""]]


def test_blank_line_is_empty_record():
    assert rows("a\n\nb\n") == [["a"], [], ["b"]]


def test_crlf_line_endings():
    assert rows("a,b\r\nc,d\r\n") == [["a", "b"], ["c", "d"]]


def test_quoted_field_with_delimiter():
    assert rows('"Widget, large",3\n') == [["Widget, large", "3"]]


def test_quoted_empty_field():
    assert rows('"",x\n') == [["", "x"]]


def test_quoted_field_spanning_lines():
    assert rows('id,note\n1,"first line\nsecond line"\n') == [["id", "note"], ["1", "first line\nsecond line"]]


def test_unterminated_quote_raises():
    with pytest.raises(CSVError, match="end of data"):
        rows('1,"never closed\n')


def test_text_after_closing_quote_is_kept():
    assert rows('"ab"cd,e\n') == [["abcd", "e"]]


def test_strict_rejects_text_after_closing_quote():
    with pytest.raises(CSVError, match="line 1"):
        rows('"ab"cd,e\n', strict=True)


def test_skipinitialspace():
    assert rows("a, b,  c\n", skipinitialspace=True) == [["a", "b", "c"]]
    assert rows("a, b\n") == [["a", " b"]]


def test_tab_dialect():
    assert rows("a\tb,c\n", dialect="excel-tab") == [["a", "b,c"]]


def test_line_num_counts_physical_lines():
    r = minicsv.reader(['1,"a\n', 'b"\n', "2,c\n"])
    next(r)
    assert r.line_num == 2
    next(r)
    assert r.line_num == 3


def test_dictreader_uses_header():
    records = list(minicsv.DictReader(["name,qty\n", "bolt,10\n", "\n", "nut,5\n"]))
    assert records == [{"name": "bolt", "qty": "10"}, {"name": "nut", "qty": "5"}]


def test_dictreader_restkey_and_restval():
    records = list(minicsv.DictReader(["a,b\n", "1,2,3\n", "4\n"], restkey="extra", restval="-"))
    assert records == [{"a": "1", "b": "2", "extra": ["3"]}, {"a": "4", "b": "-"}]


def test_dictreader_explicit_fieldnames():
    reader = minicsv.DictReader(["1,2\n"], fieldnames=["x", "y"])
    assert list(reader) == [{"x": "1", "y": "2"}]
