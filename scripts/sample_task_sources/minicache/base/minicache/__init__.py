"""minicache: small in-memory caches (LRU, TTL) and a memoizing decorator."""

from .clock import ManualClock, monotonic
from .lru import CacheStats, LRUCache
from .memo import make_key, memoize
from .ttl import TTLCache

__version__ = "0.5.2"

__all__ = ["CacheStats", "LRUCache", "ManualClock", "TTLCache", "make_key", "memoize", "monotonic"]
