import pytest

from durations import parse_iso, to_iso


@pytest.mark.parametrize(
    "text, seconds",
    [("PT45S", 45), ("PT1H30M", 5400), ("P1DT2H3M4S", 93784), ("P2W", 1209600), ("PT1.5S", 1.5), ("pt2m", 120)],
)
def test_parse_iso(text, seconds):
    assert parse_iso(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "P1Y", "P1M", "1H", "P1DT"])
def test_parse_iso_invalid(text):
    with pytest.raises(ValueError):
        parse_iso(text)


@pytest.mark.parametrize("seconds, text", [(0, "PT0S"), (45, "PT45S"), (5400, "PT1H30M"), (93784, "P1DT2H3M4S"), (86400, "P1D")])
def test_to_iso(seconds, text):
    assert to_iso(seconds) == text


def test_to_iso_rejects_negative():
    with pytest.raises(ValueError):
        to_iso(-1)
