import pytest

from semverlite import InvalidVersion, Version


def test_parse_full_version():
    v = Version.parse("1.2.3-rc.1+build.5")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ("rc", "1")
    assert v.build == ("build", "5")


def test_parse_leading_v():
    assert Version.parse("v2.0.0") == Version(2, 0, 0)


@pytest.mark.parametrize("text", ["1", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "a.b.c", "1.2.3.4"])
def test_invalid_versions(text):
    with pytest.raises(InvalidVersion):
        Version.parse(text)


def test_str_round_trip():
    for text in ("0.0.1", "1.2.3-alpha.1", "1.2.3+exp.sha.5114f85", "10.20.30-rc.1+b.7"):
        assert str(Version.parse(text)) == text


def test_immutable():
    v = Version(1, 2, 3)
    with pytest.raises(AttributeError):
        v.major = 2


def test_release_ordering():
    assert Version.parse("1.0.0") < Version.parse("1.0.1") < Version.parse("1.1.0") < Version.parse("2.0.0")
    assert Version.parse("1.10.0") > Version.parse("1.9.0")


def test_prerelease_sorts_before_release():
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0")
    assert Version.parse("1.0.0-rc.1") > Version.parse("0.9.9")


def test_prerelease_alphabetical_identifiers():
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0-beta") < Version.parse("1.0.0-rc")


def test_longer_prerelease_sorts_after_its_prefix():
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0-alpha.1")


def test_numeric_prerelease_identifiers_compare_numerically():
    assert Version.parse("1.0.0-beta.2") < Version.parse("1.0.0-beta.11")
    assert Version.parse("1.0.0-alpha.9") < Version.parse("1.0.0-alpha.10")
    assert Version.parse("2.0.0-100") > Version.parse("2.0.0-99")


def test_numeric_identifiers_sort_before_alphanumeric():
    assert Version.parse("1.0.0-alpha.1") < Version.parse("1.0.0-alpha.beta")
    assert Version.parse("1.0.0-rc.99") < Version.parse("1.0.0-rc.-1")
    assert Version.parse("1.0.0-9") < Version.parse("1.0.0--")


def test_spec_precedence_example():
    ordered = [
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
    ]
    shuffled = [ordered[i] for i in (5, 2, 7, 0, 4, 6, 1, 3)]
    assert [str(v) for v in sorted(map(Version.parse, shuffled))] == ordered


def test_max_of_numbered_prereleases():
    assert max(Version.parse(f"3.0.0-rc.{n}") for n in (1, 2, 9, 10)) == "3.0.0-rc.10"


def test_build_metadata_ignored_in_comparison():
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert hash(Version.parse("1.0.0+a")) == hash(Version.parse("1.0.0"))


def test_compare_with_string():
    assert Version(1, 2, 3) == "1.2.3"
    assert Version(1, 2, 3) < "1.3.0"


def test_bumps():
    v = Version.parse("1.2.3")
    assert v.bump_major() == "2.0.0"
    assert v.bump_minor() == "1.3.0"
    assert v.bump_patch() == "1.2.4"
    assert Version.parse("1.2.3-rc.2").bump_patch() == "1.2.3"


def test_release():
    assert Version.parse("1.2.3-rc.1+b").release() == Version(1, 2, 3)
