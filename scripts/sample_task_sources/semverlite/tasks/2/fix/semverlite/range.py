"""npm-style version ranges: "^1.2.3", "~1.2", ">=1.0.0 <2.0.0", "1.x || 2.1.x"."""

import operator
import re

from .errors import InvalidRange, InvalidVersion
from .version import Version

_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}
_PARTIAL_RE = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$")
_TERM_RE = re.compile(r"^(\^|~|<=|>=|<|>|=)?\s*(\S+)$")


class Comparator:
    """One `op version` condition."""

    def __init__(self, op, version):
        if op not in _OPS:
            raise InvalidRange(f"unknown operator {op!r}")
        self.op = op
        self.version = Version.parse(version)

    def matches(self, version):
        return _OPS[self.op](Version.parse(version), self.version)

    def __eq__(self, other):
        return isinstance(other, Comparator) and (self.op, self.version) == (other.op, other.version)

    def __repr__(self):
        return f"Comparator({self.op!r}, {str(self.version)!r})"

    def __str__(self):
        return f"{self.op}{self.version}"


def _parse_partial(text):
    """(major, minor, patch, prerelease) with None for each wildcard or missing part."""
    match = _PARTIAL_RE.match(text)
    if not match:
        raise InvalidRange(f"invalid version in range: {text!r}")
    parts = [None if p is None or p in "xX*" else int(p) for p in match.groups()[:3]]
    # anything after a wildcard is a wildcard too: 1.x.3 means 1.x
    for i in range(1, 3):
        if parts[i - 1] is None:
            parts[i] = None
    return (*parts, match.group(4))


def _floor(major, minor, patch, pre):
    return Version(major or 0, minor or 0, patch or 0, pre or ())


def _expand_xrange(major, minor, patch, pre):
    if major is None:
        return []
    if minor is None:
        return [Comparator(">=", Version(major, 0, 0)), Comparator("<", Version(major + 1, 0, 0))]
    if patch is None:
        return [Comparator(">=", Version(major, minor, 0)), Comparator("<", Version(major, minor + 1, 0))]
    return [Comparator("=", Version(major, minor, patch, pre or ()))]


def _expand_tilde(major, minor, patch, pre):
    # ~1.2.3 := >=1.2.3 <1.3.0, ~1.2 := >=1.2.0 <1.3.0, ~1 := >=1.0.0 <2.0.0
    if major is None:
        return []
    low = Comparator(">=", _floor(major, minor, patch, pre))
    if minor is None:
        return [low, Comparator("<", Version(major + 1, 0, 0))]
    return [low, Comparator("<", Version(major, minor + 1, 0))]


def _expand_caret(major, minor, patch, pre):
    # ^1.2.3 := >=1.2.3 <2.0.0, ^0.2.3 := >=0.2.3 <0.3.0, ^0.0.3 := >=0.0.3 <0.0.4:
    # changes that do not modify the left-most non-zero part; a missing part is a wildcard
    if major is None:
        return []
    low = Comparator(">=", _floor(major, minor, patch, pre))
    if major > 0 or minor is None:
        high = Version(major + 1, 0, 0)
    elif minor > 0 or patch is None:
        high = Version(0, minor + 1, 0)
    else:
        high = Version(0, 0, patch + 1)
    return [low, Comparator("<", high)]


def _expand_comparison(op, major, minor, patch, pre):
    if major is None:
        return [Comparator("<", Version(0, 0, 0))] if op in ("<", ">") else []
    if op == ">" and (minor is None or patch is None):
        # >1.2 means >=1.3.0
        bumped = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [Comparator(">=", bumped)]
    if op == "<=" and (minor is None or patch is None):
        # <=1.2 means <1.3.0
        bumped = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [Comparator("<", bumped)]
    return [Comparator(op, _floor(major, minor, patch, pre))]


def _parse_term(term):
    match = _TERM_RE.match(term)
    if not match:
        raise InvalidRange(f"invalid range term {term!r}")
    op, text = match.groups()
    partial = _parse_partial(text)
    if op == "^":
        return _expand_caret(*partial)
    if op == "~":
        return _expand_tilde(*partial)
    if op is None or op == "=":
        return _expand_xrange(*partial)
    return _expand_comparison(op, *partial)


def _parse_hyphen(low, high):
    lo = _parse_partial(low)
    hi = _parse_partial(high)
    comparators = [Comparator(">=", _floor(*lo))] if lo[0] is not None else []
    return comparators + _expand_comparison("<=", *hi)


def _parse_set(text):
    text = re.sub(r"(<=|>=|<|>|=|\^|~)\s+", r"\1", text.strip())
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        return _parse_hyphen(*hyphen.groups())
    comparators = []
    for term in text.split():
        comparators.extend(_parse_term(term))
    return comparators


class Range:
    """A set of alternatives (joined by `||`), each a list of comparators that must all hold.

    Pre-release versions only satisfy a range when `include_prerelease` is true, or when
    a comparator in the matching alternative names a pre-release of the same
    major.minor.patch (as npm does).
    """

    def __init__(self, text, include_prerelease=False):
        if not isinstance(text, str):
            raise InvalidRange(f"expected a string, not {type(text).__name__}")
        self.text = text
        self.include_prerelease = include_prerelease
        self.alternatives = [_parse_set(part) for part in text.split("||")]

    def _allows_prerelease(self, comparators, version):
        if self.include_prerelease:
            return True
        return any(
            c.version.prerelease and c.version.release() == version.release() for c in comparators
        )

    def matches(self, version):
        try:
            version = Version.parse(version)
        except InvalidVersion:
            return False
        for comparators in self.alternatives:
            if all(c.matches(version) for c in comparators):
                if not version.prerelease or self._allows_prerelease(comparators, version):
                    return True
        return False

    __contains__ = matches

    def filter(self, versions):
        return [v for v in versions if self.matches(v)]

    def max_satisfying(self, versions):
        matching = [Version.parse(v) for v in self.filter(versions)]
        return max(matching) if matching else None

    def min_satisfying(self, versions):
        matching = [Version.parse(v) for v in self.filter(versions)]
        return min(matching) if matching else None

    def __repr__(self):
        return f"Range({self.text!r})"


def satisfies(version, range_text, include_prerelease=False):
    return Range(range_text, include_prerelease).matches(version)
