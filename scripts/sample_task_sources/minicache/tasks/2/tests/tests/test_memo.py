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


def test_functions_do_not_share_results():
    @memoize
    def square(x):
        return x * x

    @memoize
    def cube(x):
        return x * x * x

    assert square(3) == 9
    assert cube(3) == 27
    assert square(3) == 9


def test_each_function_gets_its_own_cache():
    @memoize
    def first(x):
        return x

    @memoize(typed=True)
    def second(x):
        return x

    assert first.cache is not second.cache


def test_cache_clear_only_affects_its_function():
    calls = []

    @memoize
    def inc(x):
        calls.append(("inc", x))
        return x + 1

    @memoize
    def dec(x):
        calls.append(("dec", x))
        return x - 1

    inc(7), dec(7)
    dec.cache_clear()
    inc(7), dec(7)
    assert calls == [("inc", 7), ("dec", 7), ("dec", 7)]


def test_maxsize_is_respected():
    @memoize(maxsize=2)
    def ident(x):
        return x

    for n in range(5):
        ident(n)
    assert ident.cache.maxsize == 2
    assert len(ident.cache) == 2


def test_cache_info_counts_hits():
    @memoize
    def negate(x):
        return -x

    negate(1)
    negate(1)
    negate(2)
    info = negate.cache_info()
    assert (info.hits, info.misses) == (1, 2)
