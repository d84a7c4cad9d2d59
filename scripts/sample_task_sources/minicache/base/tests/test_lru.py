import pytest

from minicache import LRUCache


def test_set_and_get():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    assert cache["a"] == 1
    assert cache.get("missing") is None
    assert cache.get("missing", 0) == 0


def test_missing_key_raises():
    with pytest.raises(KeyError):
        LRUCache()["nope"]


def test_evicts_oldest_when_full():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["c"] = 3
    assert "a" not in cache
    assert cache.keys() == ["b", "c"]
    assert len(cache) == 2


def test_overwrite_counts_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    cache["c"] = 3
    assert cache.keys() == ["a", "c"]
    assert cache["a"] == 10


def test_on_evict_callback():
    evicted = []
    cache = LRUCache(maxsize=1, on_evict=lambda k, v: evicted.append((k, v)))
    cache["a"] = 1
    cache["b"] = 2
    assert evicted == [("a", 1)]
    assert cache.stats.evictions == 1


def test_stats():
    cache = LRUCache()
    cache["a"] = 1
    cache.get("a")
    cache.get("b")
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert cache.stats.hit_rate == 0.5


def test_peek_does_not_touch_stats():
    cache = LRUCache()
    cache["a"] = 1
    assert cache.peek("a") == 1
    assert cache.stats.hits == 0


def test_pop_and_delete():
    cache = LRUCache()
    cache["a"] = 1
    cache["b"] = 2
    assert cache.pop("a") == 1
    assert cache.pop("a", None) is None
    del cache["b"]
    assert len(cache) == 0
    with pytest.raises(KeyError):
        cache.pop("b")


def test_invalid_maxsize():
    with pytest.raises(ValueError):
        LRUCache(maxsize=0)
