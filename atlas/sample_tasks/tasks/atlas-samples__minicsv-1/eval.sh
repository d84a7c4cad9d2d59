#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout dce3dbbc760a1d2d923f5ff6bd9afe65a554c79d -- tests/test_reader.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_reader.py b/tests/test_reader.py
index 53d00e5..907f585 100644
--- a/tests/test_reader.py
+++ b/tests/test_reader.py
@@ -32,6 +32,18 @@ def test_quoted_empty_field():
     assert rows('"",x\n') == [["", "x"]]
 
 
+def test_doubled_quote_is_literal_quote():
+    assert rows('"say ""hi""",x\n') == [['say "hi"', "x"]]
+
+
+def test_field_that_is_only_a_quote():
+    assert rows('"""",""""""\n') == [['"', '""']]
+
+
+def test_doubled_quote_in_multiline_field():
+    assert rows('1,"a ""b""\nc"\n') == [["1", 'a "b"\nc']]
+
+
 def test_quoted_field_spanning_lines():
     assert rows('id,note\n1,"first line\nsecond line"\n') == [["id", "note"], ["1", "first line\nsecond line"]]
 
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_reader.py
: '>>>>> End Test Output'
git checkout dce3dbbc760a1d2d923f5ff6bd9afe65a554c79d -- tests/test_reader.py
