#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout b51349ef39e6a46d9c926a2948e4e0cd63880548 -- tests/test_format.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_format.py b/tests/test_format.py
index 769074a..570bd7b 100644
--- a/tests/test_format.py
+++ b/tests/test_format.py
@@ -20,6 +20,20 @@ def test_format_duration(seconds, text):
     assert format_duration(seconds) == text
 
 
+@pytest.mark.parametrize(
+    "seconds, text",
+    [(59.6, "1m"), (89.7, "1m 30s"), (3599.5, "1h"), (86399.9, "1d"), (604799.5, "1w")],
+    ids=lambda value: value.replace(" ", "_") if isinstance(value, str) else None,
+)
+def test_rounding_carries_into_larger_units(seconds, text):
+    assert format_duration(seconds) == text
+
+
+def test_rounding_carry_with_smallest_unit():
+    assert format_duration(7199.9, smallest="m") == "2h"
+    assert format_duration(0.9996, smallest="ms") == "1s"
+
+
 def test_largest_unit():
     assert format_duration(93784, largest="h") == "26h 3m 4s"
 
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_format.py
: '>>>>> End Test Output'
git checkout b51349ef39e6a46d9c926a2948e4e0cd63880548 -- tests/test_format.py
