"""Semantic versions: parsing, comparison and bumping."""

import functools
import re

from .errors import InvalidVersion

_IDENT = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(
    rf"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?"
    rf"(?:\+({_IDENT}(?:\.{_IDENT})*))?$"
)


def _check_prerelease(identifiers, text):
    for ident in identifiers:
        if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
            raise InvalidVersion(f"numeric pre-release identifier {ident!r} has a leading zero in {text!r}")


def _prerelease_key(identifiers):
    # SemVer 11.4: numeric identifiers compare numerically and have lower precedence
    # than alphanumeric ones, which compare in ASCII order
    return tuple((0, int(ident), "") if ident.isdigit() else (1, 0, ident) for ident in identifiers)


@functools.total_ordering
class Version:
    """An immutable semantic version. Build metadata is kept but ignored when comparing."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(self, major, minor=0, patch=0, prerelease=(), build=()):
        for name, value in (("major", major), ("minor", minor), ("patch", patch)):
            if not isinstance(value, int) or value < 0:
                raise InvalidVersion(f"{name} must be a non-negative integer, not {value!r}")
        if isinstance(prerelease, str):
            prerelease = tuple(prerelease.split(".")) if prerelease else ()
        if isinstance(build, str):
            build = tuple(build.split(".")) if build else ()
        object.__setattr__(self, "major", major)
        object.__setattr__(self, "minor", minor)
        object.__setattr__(self, "patch", patch)
        object.__setattr__(self, "prerelease", tuple(prerelease))
        object.__setattr__(self, "build", tuple(build))

    def __setattr__(self, name, value):
        raise AttributeError("Version is immutable")

    @classmethod
    def parse(cls, text):
        if isinstance(text, Version):
            return text
        match = _VERSION_RE.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise InvalidVersion(f"invalid semantic version: {text!r}")
        major, minor, patch, pre, build = match.groups()
        prerelease = tuple(pre.split(".")) if pre else ()
        _check_prerelease(prerelease, text)
        return cls(int(major), int(minor), int(patch), prerelease, tuple(build.split(".")) if build else ())

    @property
    def is_prerelease(self):
        return bool(self.prerelease)

    def release(self):
        """This version without pre-release or build information."""
        return Version(self.major, self.minor, self.patch)

    def bump_major(self):
        return Version(self.major + 1, 0, 0)

    def bump_minor(self):
        return Version(self.major, self.minor + 1, 0)

    def bump_patch(self):
        # 1.2.3-rc.1 -> 1.2.3: the patch release the pre-release was leading up to
        if self.prerelease:
            return self.release()
        return Version(self.major, self.minor, self.patch + 1)

    def _key(self):
        # a release sorts after all of its pre-releases
        pre = (1,) if not self.prerelease else (0, _prerelease_key(self.prerelease))
        return (self.major, self.minor, self.patch, pre)

    def __eq__(self, other):
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        if isinstance(other, str):
            other = Version.parse(other)
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self):
        return f"Version({str(self)!r})"
