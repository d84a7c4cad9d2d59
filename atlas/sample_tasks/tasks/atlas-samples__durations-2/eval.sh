#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout b51349ef39e6a46d9c926a2948e4e0cd63880548 -- tests/test_format.py tests/test_parse.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_format.py b/tests/test_format.py
index 769074a..41d0d1d 100644
--- a/tests/test_format.py
+++ b/tests/test_format.py
@@ -1,6 +1,6 @@
 import pytest
 
-from durations import format_clock, format_duration
+from durations import format_clock, format_duration, parse_duration
 
 
 @pytest.mark.parametrize(
@@ -20,6 +20,28 @@ def test_format_duration(seconds, text):
     assert format_duration(seconds) == text
 
 
+@pytest.mark.parametrize(
+    "seconds, text",
+    [(-45, "-45s"), (-5400, "-1h 30m"), (-93784, "-1d 2h 3m 4s")],
+    ids=lambda value: value.replace(" ", "_") if isinstance(value, str) else None,
+)
+def test_negative_durations(seconds, text):
+    assert format_duration(seconds) == text
+
+
+def test_negative_with_largest_unit():
+    assert format_duration(-93784, largest="h") == "-26h 3m 4s"
+
+
+def test_negative_that_rounds_to_zero():
+    assert format_duration(-0.2) == "0s"
+
+
+@pytest.mark.parametrize("seconds", [-61, -5400, -93784, -694861])
+def test_negative_round_trip(seconds):
+    assert parse_duration(format_duration(seconds)) == seconds
+
+
 def test_largest_unit():
     assert format_duration(93784, largest="h") == "26h 3m 4s"
 
diff --git a/tests/test_parse.py b/tests/test_parse.py
index 641aaf2..94dfa2a 100644
--- a/tests/test_parse.py
+++ b/tests/test_parse.py
@@ -28,6 +28,21 @@ def test_bare_negative_number():
     assert parse_duration("-15") == -15.0
 
 
+@pytest.mark.parametrize(
+    "text, seconds",
+    [("-1h30m", -5400.0), ("-1h 30m", -5400.0), ("- 2 days, 4 hours", -187200.0), ("+1h30m", 5400.0), ("-45s", -45.0)],
+    ids=lambda value: value.replace(" ", "_") if isinstance(value, str) else None,
+)
+def test_sign_applies_to_whole_duration(text, seconds):
+    assert parse_duration(text) == seconds
+
+
+@pytest.mark.parametrize("text", ["1h -30m", "1h+30m", "-", "--1h"], ids=["inner-minus", "inner-plus", "sign-only", "double-sign"])
+def test_sign_only_at_start(text):
+    with pytest.raises(ValueError):
+        parse_duration(text)
+
+
 def test_unknown_unit():
     with pytest.raises(UnknownUnitError, match="fortnight"):
         parse_duration("2 fortnights")
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_format.py tests/test_parse.py
: '>>>>> End Test Output'
git checkout b51349ef39e6a46d9c926a2948e4e0cd63880548 -- tests/test_format.py tests/test_parse.py
