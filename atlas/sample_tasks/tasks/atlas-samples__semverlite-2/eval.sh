#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 36ca9632c0249f5e73dcf54fea1d1a930d966857 -- tests/test_range.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_range.py b/tests/test_range.py
index 9dc778c..c69e6ea 100644
--- a/tests/test_range.py
+++ b/tests/test_range.py
@@ -47,6 +47,27 @@ def test_caret():
     check("^2", yes=["2.0.0", "2.99.99"], no=["3.0.0", "1.9.9"])
 
 
+def test_caret_zero_major():
+    check("^0.2.3", yes=["0.2.3", "0.2.9"], no=["0.3.0", "1.0.0", "0.2.2"])
+    check("^0.10.0", yes=["0.10.5"], no=["0.11.0"])
+
+
+def test_caret_zero_major_and_minor():
+    check("^0.0.3", yes=["0.0.3"], no=["0.0.4", "0.1.0", "0.0.2"])
+
+
+def test_caret_partial_versions():
+    check("^0.2", yes=["0.2.0", "0.2.7"], no=["0.3.0"])
+    check("^0.0", yes=["0.0.0", "0.0.9"], no=["0.1.0"])
+    check("^0.x", yes=["0.0.1", "0.9.0"], no=["1.0.0"])
+    check("^0.0.x", yes=["0.0.5"], no=["0.1.0"])
+
+
+def test_caret_max_satisfying_zero_major():
+    versions = ["0.1.9", "0.2.3", "0.2.8", "0.3.0", "0.4.1"]
+    assert Range("^0.2.3").max_satisfying(versions) == Version(0, 2, 8)
+
+
 def test_hyphen_range():
     check("1.2.3 - 2.3.4", yes=["1.2.3", "2.3.4"], no=["2.3.5", "1.2.2"])
     check("1.2 - 2.3", yes=["1.2.0", "2.3.9"], no=["2.4.0"])
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_range.py
: '>>>>> End Test Output'
git checkout 36ca9632c0249f5e73dcf54fea1d1a930d966857 -- tests/test_range.py
