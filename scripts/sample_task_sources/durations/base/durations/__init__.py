"""durations: parse and format human-friendly durations, in seconds."""

from .format import format_clock, format_duration
from .iso import parse_iso, to_iso
from .parse import parse_clock, parse_duration
from .units import UNITS, UnknownUnitError, canonical_unit, unit_seconds

__version__ = "1.2.0"

__all__ = [
    "UNITS",
    "UnknownUnitError",
    "canonical_unit",
    "format_clock",
    "format_duration",
    "parse_clock",
    "parse_duration",
    "parse_iso",
    "to_iso",
    "unit_seconds",
]
