#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout dce3dbbc760a1d2d923f5ff6bd9afe65a554c79d -- tests/test_writer.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_writer.py b/tests/test_writer.py
index e2c4ee0..ae829f8 100644
--- a/tests/test_writer.py
+++ b/tests/test_writer.py
@@ -25,6 +25,26 @@ def test_field_with_surrounding_spaces_is_quoted():
     assert minicsv.format_row([" padded "]) == '" padded "\r\n'
 
 
+def test_field_with_quote_is_quoted_and_doubled():
+    assert minicsv.format_row(['5" floppy', "x"]) == '"5"" floppy",x\r\n'
+
+
+def test_field_starting_with_quote_is_quoted():
+    assert minicsv.format_row(['"quoted" word']) == '"""quoted"" word"\r\n'
+
+
+def test_field_with_newline_is_quoted():
+    assert minicsv.format_row(["line one\nline two", 2]) == '"line one\nline two",2\r\n'
+
+
+def test_field_with_carriage_return_is_quoted():
+    assert minicsv.format_row(["a\rb"]) == '"a\rb"\r\n'
+
+
+def test_custom_quotechar_is_escaped():
+    assert minicsv.format_row(["it's"], quotechar="'") == "'it''s'\r\n"
+
+
 def test_writer_writes_to_stream():
     out = io.StringIO()
     w = minicsv.writer(out, dialect="unix")
@@ -51,3 +71,10 @@ def test_round_trip_simple_values():
     out = io.StringIO()
     minicsv.writer(out, dialect="unix").writerows(data)
     assert list(minicsv.reader(io.StringIO(out.getvalue()))) == data
+
+
+def test_round_trip_multiline_values():
+    data = [["id", "note"], ["1", "two\nlines"], ["2", "three\nshort\nlines"]]
+    out = io.StringIO()
+    minicsv.writer(out, dialect="unix").writerows(data)
+    assert list(minicsv.reader(io.StringIO(out.getvalue()))) == data
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_writer.py
: '>>>>> End Test Output'
git checkout dce3dbbc760a1d2d923f5ff6bd9afe65a554c79d -- tests/test_writer.py
