#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 95ccbc0e87684af1293caf0374d29fdb8d856d47 -- tests/test_filters.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_filters.py b/tests/test_filters.py
index 2976b0e..faeb09b 100644
--- a/tests/test_filters.py
+++ b/tests/test_filters.py
@@ -47,6 +47,26 @@ def test_replace():
     assert render("{{ s|replace:'a->o' }}", s="banana") == "bonono"
 
 
+def test_join_separator_containing_pipe():
+    assert render('{{ xs|join:" | " }}', xs=["home", "docs", "faq"]) == "home | docs | faq"
+
+
+def test_single_quoted_argument_containing_pipe():
+    assert render("{{ xs|join:'|' }}", xs=[1, 2]) == "1|2"
+
+
+def test_pipe_argument_followed_by_more_filters():
+    assert render('{{ xs|join:" | "|upper }}', xs=["a", "b"]) == "A | B"
+
+
+def test_replace_pipe_character():
+    assert render("{{ s|replace:'|->/' }}", s="a|b|c") == "a/b/c"
+
+
+def test_default_literal_containing_pipe():
+    assert render('{{ missing|default:"a|b" }}') == "a|b"
+
+
 def test_argument_with_colon():
     assert render('{{ t|replace:"12:00->noon" }}', t="at 12:00") == "at noon"
 
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_filters.py
: '>>>>> End Test Output'
git checkout 95ccbc0e87684af1293caf0374d29fdb8d856d47 -- tests/test_filters.py
