#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 57cad656b3fa2fd171dff977deae03eeff875c2a -- tests/test_memo.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_memo.py b/tests/test_memo.py
index b24dabe..370ece0 100644
--- a/tests/test_memo.py
+++ b/tests/test_memo.py
@@ -62,3 +62,71 @@ def test_cache_clear():
     square.cache_clear()
     assert square(12) == 144
     assert calls == [12, 12]
+
+
+def test_functions_do_not_share_results():
+    @memoize
+    def square(x):
+        return x * x
+
+    @memoize
+    def cube(x):
+        return x * x * x
+
+    assert square(3) == 9
+    assert cube(3) == 27
+    assert square(3) == 9
+
+
+def test_each_function_gets_its_own_cache():
+    @memoize
+    def first(x):
+        return x
+
+    @memoize(typed=True)
+    def second(x):
+        return x
+
+    assert first.cache is not second.cache
+
+
+def test_cache_clear_only_affects_its_function():
+    calls = []
+
+    @memoize
+    def inc(x):
+        calls.append(("inc", x))
+        return x + 1
+
+    @memoize
+    def dec(x):
+        calls.append(("dec", x))
+        return x - 1
+
+    inc(7), dec(7)
+    dec.cache_clear()
+    inc(7), dec(7)
+    assert calls == [("inc", 7), ("dec", 7), ("dec", 7)]
+
+
+def test_maxsize_is_respected():
+    @memoize(maxsize=2)
+    def ident(x):
+        return x
+
+    for n in range(5):
+        ident(n)
+    assert ident.cache.maxsize == 2
+    assert len(ident.cache) == 2
+
+
+def test_cache_info_counts_hits():
+    @memoize
+    def negate(x):
+        return -x
+
+    negate(1)
+    negate(1)
+    negate(2)
+    info = negate.cache_info()
+    assert (info.hits, info.misses) == (1, 2)
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_memo.py
: '>>>>> End Test Output'
git checkout 57cad656b3fa2fd171dff977deae03eeff875c2a -- tests/test_memo.py
