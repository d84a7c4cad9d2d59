"""Duration units, their sizes in seconds, and the names they are known by."""

# largest first: formatting walks this order
UNITS = {
    "w": 7 * 24 * 3600,
    "d": 24 * 3600,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}

ALIASES = {
    "week": "w", "weeks": "w", "wk": "w", "wks": "w",
    "day": "d", "days": "d",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h",
    "minute": "m", "minutes": "m", "min": "m", "mins": "m",
    "second": "s", "seconds": "s", "sec": "s", "secs": "s",
    "millisecond": "ms", "milliseconds": "ms", "msec": "ms", "msecs": "ms",
}


class UnknownUnitError(ValueError):
    def __init__(self, name):
        super().__init__(f"unknown duration unit {name!r}")
        self.name = name


def canonical_unit(name):
    """The short name of a unit given any of its spellings (case-insensitive)."""
    key = name.strip().lower()
    if key in UNITS:
        return key
    try:
        return ALIASES[key]
    except KeyError:
        raise UnknownUnitError(name) from None


def unit_seconds(name):
    return UNITS[canonical_unit(name)]


def units_between(largest, smallest):
    """The unit names from `largest` down to `smallest`, inclusive."""
    names = list(UNITS)
    hi, lo = names.index(canonical_unit(largest)), names.index(canonical_unit(smallest))
    if hi > lo:
        raise ValueError(f"largest unit {largest!r} is smaller than smallest unit {smallest!r}")
    return names[hi:lo + 1]
