import pytest

from durations import format_clock, format_duration


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (5400, "1h 30m"),
        (93784, "1d 2h 3m 4s"),
        (694861, "1w 1d 1h 1m 1s"),
        (12.4, "12s"),
    ],
    ids=lambda value: value.replace(" ", "_") if isinstance(value, str) else None,
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_largest_unit():
    assert format_duration(93784, largest="h") == "26h 3m 4s"


def test_smallest_unit():
    assert format_duration(5430, smallest="m") == "1h 30m"
    assert format_duration(20, smallest="m") == "0m"


def test_milliseconds():
    assert format_duration(1.25, smallest="ms") == "1s 250ms"


def test_separator():
    assert format_duration(5400, sep="") == "1h30m"


def test_unit_aliases_accepted():
    assert format_duration(93784, largest="hours", smallest="minutes") == "26h 3m"


def test_largest_smaller_than_smallest():
    with pytest.raises(ValueError):
        format_duration(10, largest="s", smallest="h")


@pytest.mark.parametrize(
    "seconds, text", [(0, "0:00"), (59.9, "0:59"), (90, "1:30"), (3600, "1:00:00"), (36061, "10:01:01")]
)
def test_format_clock(seconds, text):
    assert format_clock(seconds) == text


def test_format_clock_always_hours():
    assert format_clock(90, always_hours=True) == "0:01:30"
