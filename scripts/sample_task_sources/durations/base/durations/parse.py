"""Parsing durations written as text."""

import re

from .units import unit_seconds

_TERM = re.compile(r"\s*([+-]?\d+(?:\.\d+)?|[+-]?\.\d+)\s*([a-zA-Z]+)\s*,?")


def parse_duration(text):
    """Seconds in a duration such as "1h30m", "2 days, 4 hours" or "1.5h".

    A bare number is taken as seconds.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty duration")
    try:
        return float(stripped)
    except ValueError:
        pass
    total, pos = 0.0, 0
    while pos < len(stripped):
        match = _TERM.match(stripped, pos)
        if not match:
            raise ValueError(f"cannot parse duration {text!r} at {stripped[pos:]!r}")
        number, unit = match.groups()
        total += float(number) * unit_seconds(unit)
        pos = match.end()
    return total


def parse_clock(text):
    """Seconds in clock notation: "SS", "MM:SS" or "HH:MM:SS" (fractional seconds allowed)."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"invalid clock duration {text!r}")
    seconds = 0.0
    for index, part in enumerate(reversed(parts)):
        value = float(part)
        if value < 0 or (index < len(parts) - 1 and value >= 60):
            raise ValueError(f"invalid clock duration {text!r}")
        seconds += value * 60 ** index
    return seconds
