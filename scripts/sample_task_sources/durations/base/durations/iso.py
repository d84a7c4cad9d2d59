"""ISO 8601 durations (the time-based subset: weeks, days, hours, minutes, seconds)."""

import re

_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SIZES = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_iso(text):
    """Seconds in an ISO 8601 duration such as "P1DT2H" or "PT1.5S".

    Years and months are rejected: their length in seconds is not fixed.
    """
    match = _ISO.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"invalid ISO 8601 duration {text!r}")
    return sum(float(value) * _SIZES[unit] for unit, value in match.groupdict().items() if value)


def to_iso(seconds):
    """`seconds` as an ISO 8601 duration, e.g. 93784 -> "P1DT2H3M4S"."""
    if seconds < 0:
        raise ValueError("ISO 8601 durations cannot be negative")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"P{int(days)}D" if days else "P"
    time = ""
    if hours:
        time += f"{int(hours)}H"
    if minutes:
        time += f"{int(minutes)}M"
    if secs or not (days or time):
        time += f"{secs:g}S"
    return text + ("T" + time if time else "")
