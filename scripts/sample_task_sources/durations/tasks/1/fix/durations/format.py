"""Formatting seconds as text."""

from .units import UNITS, units_between


def format_duration(seconds, largest="w", smallest="s", sep=" "):
    """`seconds` as "1h 30m"-style text, from the `largest` unit down to the `smallest`.

    Units with a zero count are left out; the smallest unit is rounded to the nearest
    whole number. A duration that rounds to nothing is "0" followed by the smallest unit.
    """
    units = units_between(largest, smallest)
    step = UNITS[units[-1]]
    # round once, up front, so that a carry (59.6s -> 1m) reaches the larger units
    remaining = round(seconds / step)
    parts = []
    for unit in units:
        count, remaining = divmod(remaining, round(UNITS[unit] / step))
        if count:
            parts.append(f"{count}{unit}")
    return sep.join(parts) if parts else f"0{units[-1]}"


def format_clock(seconds, always_hours=False):
    """`seconds` as "M:SS" or "H:MM:SS", rounded down to whole seconds."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours or always_hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
