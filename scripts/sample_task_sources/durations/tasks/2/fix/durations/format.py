"""Formatting seconds as text."""

from .units import UNITS, canonical_unit, units_between


def format_duration(seconds, largest="w", smallest="s", sep=" "):
    """`seconds` as "1h 30m"-style text, from the `largest` unit down to the `smallest`.

    Units with a zero count are left out; the smallest unit is rounded to the nearest
    whole number. A duration that rounds to nothing is "0" followed by the smallest unit.
    A negative duration is formatted as its magnitude with a leading "-".
    """
    if seconds < 0:  # format the magnitude, then put the sign in front
        text = format_duration(-seconds, largest, smallest, sep)
        # a negative duration that rounds to nothing is still "0s", not "-0s"
        return text if text == f"0{canonical_unit(smallest)}" else "-" + text
    units = units_between(largest, smallest)
    parts = []
    remaining = seconds
    for unit in units:
        size = UNITS[unit]
        if unit == units[-1]:
            count = round(remaining / size)
        else:
            count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    return sep.join(parts) if parts else f"0{units[-1]}"


def format_clock(seconds, always_hours=False):
    """`seconds` as "M:SS" or "H:MM:SS", rounded down to whole seconds."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours or always_hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
