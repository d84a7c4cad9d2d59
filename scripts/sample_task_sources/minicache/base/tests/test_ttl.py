import pytest

from minicache import ManualClock, TTLCache


@pytest.fixture
def clock():
    return ManualClock()


def test_entry_expires_after_ttl(clock):
    cache = TTLCache(ttl=10, clock=clock)
    cache["a"] = 1
    clock.advance(9.9)
    assert cache["a"] == 1
    clock.advance(0.1)
    assert "a" not in cache
    assert cache.get("a") is None


def test_per_entry_ttl(clock):
    cache = TTLCache(ttl=10, clock=clock)
    cache.set("short", 1, ttl=1)
    cache.set("long", 2)
    clock.advance(5)
    assert cache.keys() == ["short", "long"]
    assert len(cache) == 1
    assert cache.keys() == ["long"]


def test_set_refreshes_expiry(clock):
    cache = TTLCache(ttl=10, clock=clock)
    cache["a"] = 1
    clock.advance(8)
    cache["a"] = 2
    clock.advance(8)
    assert cache["a"] == 2


def test_ttl_remaining(clock):
    cache = TTLCache(ttl=10, clock=clock)
    cache["a"] = 1
    clock.advance(4)
    assert cache.ttl_remaining("a") == 6
    assert cache.ttl_remaining("b") is None


def test_expire_returns_count(clock):
    cache = TTLCache(ttl=10, clock=clock)
    for key in "abc":
        cache[key] = key
    clock.advance(10)
    assert cache.expire() == 3
    assert len(cache) == 0


def test_size_bound_still_applies(clock):
    cache = TTLCache(maxsize=2, ttl=10, clock=clock)
    cache["a"], cache["b"], cache["c"] = 1, 2, 3
    assert cache.keys() == ["b", "c"]
    assert cache.ttl_remaining("a") is None


def test_invalid_ttl():
    with pytest.raises(ValueError):
        TTLCache(ttl=0)


def test_manual_clock_cannot_go_backwards(clock):
    with pytest.raises(ValueError):
        clock.advance(-1)
