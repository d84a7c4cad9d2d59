import pytest

from durations import UnknownUnitError, parse_clock, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("45s", 45.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2 days, 4 hours", 187200.0),
        ("1.5h", 5400.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        ("3 Minutes 5 sec", 185.0),
        (".5m", 30.0),
    ],
    ids=lambda value: value.replace(" ", "_") if isinstance(value, str) else None,
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_bare_negative_number():
    assert parse_duration("-15") == -15.0


def test_unknown_unit():
    with pytest.raises(UnknownUnitError, match="fortnight"):
        parse_duration("2 fortnights")


@pytest.mark.parametrize("text", ["", "   ", "1h garbage", "h", "1h30"], ids=["empty", "blank", "garbage", "no-number", "no-unit"])
def test_invalid_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_duration_rejects_non_strings():
    with pytest.raises(TypeError):
        parse_duration(90)


@pytest.mark.parametrize(
    "text, seconds",
    [("45", 45.0), ("1:30", 90.0), ("1:30:00", 5400.0), ("0:00:01.5", 1.5), ("100:00:00", 360000.0)],
)
def test_parse_clock(text, seconds):
    assert parse_clock(text) == seconds


@pytest.mark.parametrize("text", ["", "1:60", "1::2", "1:2:3:4", "-1:00"])
def test_invalid_clock(text):
    with pytest.raises(ValueError):
        parse_clock(text)
