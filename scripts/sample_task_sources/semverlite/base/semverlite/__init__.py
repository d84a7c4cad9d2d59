"""semverlite: Semantic Versioning 2.0.0 versions and npm-style version ranges."""

from .errors import InvalidRange, InvalidVersion
from .range import Comparator, Range, satisfies
from .version import Version

__version__ = "0.7.1"

__all__ = ["Comparator", "InvalidRange", "InvalidVersion", "Range", "Version", "satisfies"]
