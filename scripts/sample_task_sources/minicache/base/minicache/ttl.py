"""An LRU cache whose entries also expire a fixed time after they were set."""

from .clock import monotonic
from .lru import LRUCache

_MISSING = object()


class TTLCache(LRUCache):
    """An `LRUCache` whose entries expire `ttl` seconds after being set.

    Expired entries are dropped lazily, when touched, or all at once by `expire()`.
    """

    def __init__(self, maxsize=128, ttl=60.0, clock=monotonic, on_evict=None):
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        super().__init__(maxsize, on_evict)
        self.ttl = ttl
        self.clock = clock
        self._expires = {}

    def _expired(self, key):
        return self.clock() >= self._expires[key]

    def get(self, key, default=None):
        if key in self._data and self._expired(key):
            self._drop(key)
        return super().get(key, default)

    def set(self, key, value, ttl=None):
        self._expires[key] = self.clock() + (self.ttl if ttl is None else ttl)
        super().set(key, value)

    def _evict_oldest(self):
        key = next(iter(self._data))
        super()._evict_oldest()
        self._expires.pop(key, None)

    def _drop(self, key):
        del self._data[key]
        del self._expires[key]

    def pop(self, key, default=_MISSING):
        self._expires.pop(key, None)
        if default is _MISSING:
            return super().pop(key)
        return super().pop(key, default)

    def clear(self):
        super().clear()
        self._expires.clear()

    def expire(self):
        """Drop every expired entry; return how many were dropped."""
        now = self.clock()
        stale = [key for key, at in self._expires.items() if now >= at]
        for key in stale:
            self._drop(key)
        return len(stale)

    def ttl_remaining(self, key):
        """Seconds until `key` expires, or None if it is not cached."""
        if key not in self._data or self._expired(key):
            return None
        return self._expires[key] - self.clock()

    def __delitem__(self, key):
        self._drop(key)

    def __contains__(self, key):
        return key in self._data and not self._expired(key)

    def __len__(self):
        self.expire()
        return super().__len__()
