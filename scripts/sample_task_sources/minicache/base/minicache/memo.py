"""Memoizing functions with a cache."""

import functools

from .lru import LRUCache

_KWD_MARK = object()


def make_key(args, kwargs, typed=False):
    """A hashable key for a call: f(1, b=2) and f(1, b=2) share a key, whatever the kwarg order."""
    key = args
    if kwargs:
        key += (_KWD_MARK,) + tuple(sorted(kwargs.items()))
    if typed:
        key += tuple(type(v) for v in args) + tuple(type(v) for _, v in sorted(kwargs.items()))
    return key


def memoize(func=None, *, maxsize=128, cache=LRUCache(maxsize=128), typed=False):
    """Cache a function's results by its arguments.

    Use as `@memoize` or `@memoize(maxsize=..., cache=..., typed=...)`. Pass `cache` to
    supply your own (e.g. a `TTLCache`); otherwise each function gets an `LRUCache`
    of `maxsize` entries. The wrapper has `cache`, `cache_info()` and `cache_clear()`.
    """

    def decorate(fn):
        store = cache

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = make_key(args, kwargs, typed)
            result = store.get(key, _KWD_MARK)
            if result is _KWD_MARK:
                result = fn(*args, **kwargs)
                store.set(key, result)
            return result

        wrapper.cache = store
        wrapper.cache_info = lambda: store.stats
        wrapper.cache_clear = store.clear
        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
