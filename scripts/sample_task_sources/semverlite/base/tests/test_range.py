import pytest

from semverlite import InvalidRange, Range, Version, satisfies


def check(range_text, yes=(), no=()):
    r = Range(range_text)
    for v in yes:
        assert r.matches(v), f"{v} should satisfy {range_text}"
    for v in no:
        assert not r.matches(v), f"{v} should not satisfy {range_text}"


def test_exact():
    check("1.2.3", yes=["1.2.3"], no=["1.2.4", "1.2.2"])
    check("=1.2.3", yes=["1.2.3"], no=["1.2.4"])


def test_comparators():
    check(">=1.2.0 <2.0.0", yes=["1.2.0", "1.9.9"], no=["1.1.9", "2.0.0"])
    check("> 1.2.3", yes=["1.2.4"], no=["1.2.3"])


def test_partial_comparators():
    check(">1.2", yes=["1.3.0"], no=["1.2.9"])
    check("<=1.2", yes=["1.2.9"], no=["1.3.0"])
    check("<1.2", yes=["1.1.9"], no=["1.2.0"])


def test_x_ranges():
    check("1.2.x", yes=["1.2.0", "1.2.99"], no=["1.3.0", "1.1.9"])
    check("1.x", yes=["1.0.0", "1.99.0"], no=["2.0.0", "0.9.0"])
    check("*", yes=["0.0.1", "99.0.0"])
    check("", yes=["1.0.0"])
    check("1", yes=["1.5.0"], no=["2.0.0"])


def test_tilde():
    check("~1.2.3", yes=["1.2.3", "1.2.9"], no=["1.3.0", "1.2.2"])
    check("~1.2", yes=["1.2.0", "1.2.9"], no=["1.3.0"])
    check("~1", yes=["1.0.0", "1.9.0"], no=["2.0.0"])
    check("~0.2.3", yes=["0.2.3", "0.2.9"], no=["0.3.0"])


def test_caret():
    check("^1.2.3", yes=["1.2.3", "1.9.0"], no=["2.0.0", "1.2.2"])
    check("^2", yes=["2.0.0", "2.99.99"], no=["3.0.0", "1.9.9"])


def test_hyphen_range():
    check("1.2.3 - 2.3.4", yes=["1.2.3", "2.3.4"], no=["2.3.5", "1.2.2"])
    check("1.2 - 2.3", yes=["1.2.0", "2.3.9"], no=["2.4.0"])


def test_alternatives():
    check("1.x || >=3.0.0", yes=["1.5.0", "3.1.0"], no=["2.0.0"])


def test_prereleases_excluded_by_default():
    check(">=1.0.0", no=["2.0.0-rc.1"])
    assert Range(">=1.0.0", include_prerelease=True).matches("2.0.0-rc.1")


def test_prerelease_allowed_on_same_tuple():
    check(">=1.2.3-alpha.1", yes=["1.2.3-alpha.2", "1.2.3"], no=["1.2.4-alpha.1"])


def test_invalid_version_never_matches():
    assert not Range("*").matches("not-a-version")


@pytest.mark.parametrize("text", ["~>1.2", ">=a.b", "1.2.3 - "], ids=["pessimistic", "not-numeric", "open-hyphen"])
def test_invalid_ranges(text):
    with pytest.raises(InvalidRange):
        Range(text)


def test_max_and_min_satisfying():
    versions = ["1.1.9", "1.2.3", "1.9.0", "2.0.0"]
    assert Range("^1.2.0").max_satisfying(versions) == Version(1, 9, 0)
    assert Range("^1.2.0").min_satisfying(versions) == Version(1, 2, 3)
    assert Range(">=3.0.0").max_satisfying(versions) is None


def test_satisfies_and_contains():
    assert satisfies("1.4.0", "~1.4")
    assert "1.4.0" in Range("1.x")
