from minicache import ManualClock, TTLCache, make_key, memoize


def test_make_key_ignores_kwarg_order():
    assert make_key((1,), {"a": 1, "b": 2}) == make_key((1,), {"b": 2, "a": 1})


def test_make_key_typed():
    assert make_key((1,), {}) == make_key((1.0,), {})
    assert make_key((1,), {}, typed=True) != make_key((1.0,), {}, typed=True)


def test_memoize_caches_results():
    calls = []

    @memoize
    def double(x):
        calls.append(x)
        return 2 * x

    assert double(21) == 42
    assert double(21) == 42
    assert calls == [21]


def test_memoize_with_options_keeps_metadata():
    @memoize(typed=True)
    def ident(x):
        """Return x."""
        return x

    assert ident.__name__ == "ident"
    assert ident.__doc__ == "Return x."
    assert type(ident(5)) is int and type(ident(5.0)) is float


def test_memoize_with_ttl_cache():
    clock = ManualClock()
    calls = []

    @memoize(cache=TTLCache(ttl=5, clock=clock))
    def lookup(name):
        calls.append(name)
        return name.upper()

    lookup("x")
    lookup("x")
    clock.advance(5)
    lookup("x")
    assert calls == ["x", "x"]


def test_cache_clear():
    calls = []

    @memoize
    def square(x):
        calls.append(x)
        return x * x

    assert square(12) == 144
    square.cache_clear()
    assert square(12) == 144
    assert calls == [12, 12]
