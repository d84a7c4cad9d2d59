#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 57cad656b3fa2fd171dff977deae03eeff875c2a -- tests/test_lru.py tests/test_ttl.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_lru.py b/tests/test_lru.py
index 88d845d..ed5a464 100644
--- a/tests/test_lru.py
+++ b/tests/test_lru.py
@@ -36,6 +36,36 @@ def test_overwrite_counts_as_use():
     assert cache["a"] == 10
 
 
+def test_get_counts_as_use():
+    cache = LRUCache(maxsize=2)
+    cache["a"] = 1
+    cache["b"] = 2
+    assert cache.get("a") == 1
+    cache["c"] = 3
+    assert "a" in cache
+    assert "b" not in cache
+    assert cache.keys() == ["a", "c"]
+
+
+def test_getitem_counts_as_use():
+    evicted = []
+    cache = LRUCache(maxsize=3, on_evict=lambda k, v: evicted.append(k))
+    for key in "abc":
+        cache[key] = key
+    cache["a"]
+    cache["b"]
+    cache["d"] = "d"
+    assert evicted == ["c"]
+
+
+def test_miss_does_not_change_order():
+    cache = LRUCache(maxsize=2)
+    cache["a"] = 1
+    cache["b"] = 2
+    cache.get("zzz")
+    assert cache.keys() == ["a", "b"]
+
+
 def test_on_evict_callback():
     evicted = []
     cache = LRUCache(maxsize=1, on_evict=lambda k, v: evicted.append((k, v)))
@@ -61,6 +91,15 @@ def test_peek_does_not_touch_stats():
     assert cache.stats.hits == 0
 
 
+def test_peek_does_not_count_as_use():
+    cache = LRUCache(maxsize=2)
+    cache["a"] = 1
+    cache["b"] = 2
+    cache.peek("a")
+    cache["c"] = 3
+    assert cache.keys() == ["b", "c"]
+
+
 def test_pop_and_delete():
     cache = LRUCache()
     cache["a"] = 1
diff --git a/tests/test_ttl.py b/tests/test_ttl.py
index 7ff9381..a2f3793 100644
--- a/tests/test_ttl.py
+++ b/tests/test_ttl.py
@@ -37,6 +37,15 @@ def test_set_refreshes_expiry(clock):
     assert cache["a"] == 2
 
 
+def test_read_keeps_entry_in_lru_order(clock):
+    cache = TTLCache(maxsize=2, ttl=10, clock=clock)
+    cache["a"] = 1
+    cache["b"] = 2
+    assert cache["a"] == 1
+    cache["c"] = 3
+    assert cache.keys() == ["a", "c"]
+
+
 def test_ttl_remaining(clock):
     cache = TTLCache(ttl=10, clock=clock)
     cache["a"] = 1
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_lru.py tests/test_ttl.py
: '>>>>> End Test Output'
git checkout 57cad656b3fa2fd171dff977deae03eeff875c2a -- tests/test_lru.py tests/test_ttl.py
