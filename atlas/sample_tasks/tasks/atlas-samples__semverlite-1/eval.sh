#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 36ca9632c0249f5e73dcf54fea1d1a930d966857 -- tests/test_version.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_version.py b/tests/test_version.py
index c004fe2..db2c03b 100644
--- a/tests/test_version.py
+++ b/tests/test_version.py
@@ -49,6 +49,31 @@ def test_longer_prerelease_sorts_after_its_prefix():
     assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0-alpha.1")
 
 
+def test_numeric_prerelease_identifiers_compare_numerically():
+    assert Version.parse("1.0.0-beta.2") < Version.parse("1.0.0-beta.11")
+    assert Version.parse("1.0.0-alpha.9") < Version.parse("1.0.0-alpha.10")
+    assert Version.parse("2.0.0-100") > Version.parse("2.0.0-99")
+
+
+def test_numeric_identifiers_sort_before_alphanumeric():
+    assert Version.parse("1.0.0-alpha.1") < Version.parse("1.0.0-alpha.beta")
+    assert Version.parse("1.0.0-rc.99") < Version.parse("1.0.0-rc.-1")
+    assert Version.parse("1.0.0-9") < Version.parse("1.0.0--")
+
+
+def test_spec_precedence_example():
+    ordered = [
+        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
+        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
+    ]
+    shuffled = [ordered[i] for i in (5, 2, 7, 0, 4, 6, 1, 3)]
+    assert [str(v) for v in sorted(map(Version.parse, shuffled))] == ordered
+
+
+def test_max_of_numbered_prereleases():
+    assert max(Version.parse(f"3.0.0-rc.{n}") for n in (1, 2, 9, 10)) == "3.0.0-rc.10"
+
+
 def test_build_metadata_ignored_in_comparison():
     assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
     assert hash(Version.parse("1.0.0+a")) == hash(Version.parse("1.0.0"))
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_version.py
: '>>>>> End Test Output'
git checkout 36ca9632c0249f5e73dcf54fea1d1a930d966857 -- tests/test_version.py
