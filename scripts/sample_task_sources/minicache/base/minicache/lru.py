"""A size-bounded mapping that evicts the least recently used entry."""

from collections import OrderedDict
from dataclasses import dataclass

_MISSING = object()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    @property
    def hit_rate(self):
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class LRUCache:
    """At most `maxsize` entries; adding one more evicts the least recently used.

    Both reading (`get`, `[]`) and writing (`set`, `[]=`) an entry count as using it.
    `on_evict(key, value)` is called for every entry evicted to make room.
    """

    def __init__(self, maxsize=128, on_evict=None):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.on_evict = on_evict
        self.stats = CacheStats()
        self._data = OrderedDict()

    def get(self, key, default=None):
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        return value

    def set(self, key, value):
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = value
        while len(self._data) > self.maxsize:
            self._evict_oldest()

    def _evict_oldest(self):
        key, value = self._data.popitem(last=False)
        self.stats.evictions += 1
        if self.on_evict is not None:
            self.on_evict(key, value)

    def pop(self, key, default=_MISSING):
        if default is _MISSING:
            return self._data.pop(key)
        return self._data.pop(key, default)

    def peek(self, key, default=None):
        """The value for `key` without counting as a use or touching the stats."""
        return self._data.get(key, default)

    def clear(self):
        self._data.clear()

    def keys(self):
        """Keys from least to most recently used."""
        return list(self._data)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.set(key, value)

    def __delitem__(self, key):
        del self._data[key]

    def __contains__(self, key):
        return key in self._data

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"{type(self).__name__}(maxsize={self.maxsize}, size={len(self)})"
