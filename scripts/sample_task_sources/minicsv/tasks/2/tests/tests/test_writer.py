import io

import pytest

import minicsv


def test_format_simple_row():
    assert minicsv.format_row(["a", "b", 3]) == "a,b,3\r\n"


def test_unix_dialect_line_terminator():
    assert minicsv.format_row(["a", "b"], dialect="unix") == "a,b\n"


def test_none_is_written_as_empty():
    assert minicsv.format_row([None, "x"]) == ",x\r\n"


def test_field_with_delimiter_is_quoted():
    assert minicsv.format_row(["Widget, large", 3]) == '"Widget, large",3\r\n'


def test_field_with_surrounding_spaces_is_quoted():
    assert minicsv.format_row([" padded "]) == '" padded "\r\n'


def test_field_with_quote_is_quoted_and_doubled():
    assert minicsv.format_row(['5" floppy', "x"]) == '"5"" floppy",x\r\n'


def test_field_starting_with_quote_is_quoted():
    assert minicsv.format_row(['"quoted" word']) == '"""quoted"" word"\r\n'


def test_field_with_newline_is_quoted():
    assert minicsv.format_row(["line one\nline two", 2]) == '"line one\nline two",2\r\n'


def test_field_with_carriage_return_is_quoted():
    assert minicsv.format_row(["a\rb"]) == '"a\rb"\r\n'


def test_custom_quotechar_is_escaped():
    assert minicsv.format_row(["it's"], quotechar="'") == "'it''s'\r\n"


def test_writer_writes_to_stream():
    out = io.StringIO()
    w = minicsv.writer(out, dialect="unix")
    w.writerows([["a", 1], ["b", 2]])
    assert out.getvalue() == "a,1\nb,2\n"


def test_dictwriter():
    out = io.StringIO()
    w = minicsv.DictWriter(out, ["name", "qty"], dialect="unix")
    w.writeheader()
    w.writerow({"name": "bolt"})
    assert out.getvalue() == "name,qty\nbolt,\n"


def test_dictwriter_rejects_extra_fields():
    w = minicsv.DictWriter(io.StringIO(), ["name"])
    with pytest.raises(ValueError, match="'qty'"):
        w.writerow({"name": "bolt", "qty": 1})


def test_round_trip_simple_values():
    data = [["id", "name"], ["1", "Widget, large"], ["2", " spaced "]]
    out = io.StringIO()
    minicsv.writer(out, dialect="unix").writerows(data)
    assert list(minicsv.reader(io.StringIO(out.getvalue()))) == data


def test_round_trip_multiline_values():
    data = [["id", "note"], ["1", "two\nlines"], ["2", "three\nshort\nlines"]]
    out = io.StringIO()
    minicsv.writer(out, dialect="unix").writerows(data)
    assert list(minicsv.reader(io.StringIO(out.getvalue()))) == data
