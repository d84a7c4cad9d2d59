import pytest

from durations import UnknownUnitError, canonical_unit, unit_seconds
from durations.units import units_between


@pytest.mark.parametrize("name, unit", [("h", "h"), ("Hours", "h"), ("mins", "m"), (" sec ", "s"), ("msec", "ms")], ids=str.strip)
def test_canonical_unit(name, unit):
    assert canonical_unit(name) == unit


def test_unknown_unit():
    with pytest.raises(UnknownUnitError):
        canonical_unit("parsec")


def test_unit_seconds():
    assert unit_seconds("day") == 86400


def test_units_between():
    assert units_between("d", "m") == ["d", "h", "m"]
