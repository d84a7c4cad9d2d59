#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout 95ccbc0e87684af1293caf0374d29fdb8d856d47 -- tests/test_tags.py
git apply --verbose - <<'EOF_114329324912'
diff --git a/tests/test_scoping.py b/tests/test_scoping.py
new file mode 100644
index 0000000..185f10f
--- /dev/null
+++ b/tests/test_scoping.py
@@ -0,0 +1,42 @@
+"""Names set while rendering stay inside the block that set them."""
+
+from minitmpl import Template, UndefinedError
+
+import pytest
+
+
+def test_loop_does_not_modify_callers_context():
+    context = {"items": [1, 2, 3]}
+    Template("{% for item in items %}{{ item }}{% endfor %}").render(context)
+    assert context == {"items": [1, 2, 3]}
+
+
+def test_loop_variable_does_not_shadow_outer_value_after_loop():
+    context = {"items": [1, 2], "item": "outer"}
+    assert Template("{% for item in items %}{{ item }}{% endfor %} {{ item }}").render(context) == "12 outer"
+    assert context["item"] == "outer"
+
+
+def test_loop_variable_is_gone_after_loop():
+    assert Template("{% for x in xs %}{{ x }}{% endfor %}[{{ x }}][{{ loop.index }}]").render(xs=[1]) == "1[][]"
+
+
+def test_loop_variable_undefined_after_loop_in_strict_mode():
+    template = Template("{% for x in xs %}{{ x }}{% endfor %}{{ x }}", strict=True)
+    with pytest.raises(UndefinedError):
+        template.render(xs=[1])
+
+
+def test_rendering_twice_with_same_context():
+    template = Template("{% for x in xs %}{{ x }}{% endfor %}{% if x %}leaked{% endif %}")
+    context = {"xs": ["a"]}
+    assert template.render(context) == "a"
+    assert template.render(context) == "a"
+
+
+def test_loop_variable_visible_inside_body():
+    assert Template("{% for x in xs %}{% if x %}{{ x }}{% endif %}{% endfor %}").render(xs=[0, 1, 2]) == "12"
+
+
+def test_outer_variables_visible_inside_loop():
+    assert Template("{% for x in xs %}{{ prefix }}{{ x }} {% endfor %}").render(prefix="#", xs=[1, 2]) == "#1 #2 "
diff --git a/tests/test_tags.py b/tests/test_tags.py
index 545ad73..a3de32a 100644
--- a/tests/test_tags.py
+++ b/tests/test_tags.py
@@ -34,6 +34,17 @@ def test_loop_variables():
     assert render(source, xs="abc") == "1/3F 2/3 3/3L "
 
 
+def test_nested_loops_keep_outer_loop_info():
+    source = "{% for row in rows %}{% for c in row %}{{ c }}{% endfor %}{{ loop.index }};{% endfor %}"
+    assert render(source, rows=[["a", "b"], ["c", "d", "e"]]) == "ab1;cde2;"
+
+
+def test_nested_loop_can_read_outer_variable():
+    source = "{% for g in groups %}{% for m in g.members %}{{ g.name }}.{{ m }} {% endfor %}{% endfor %}"
+    groups = [{"name": "x", "members": [1, 2]}, {"name": "y", "members": [3]}]
+    assert render(source, groups=groups) == "x.1 x.2 y.3 "
+
+
 def test_for_over_dotted_name():
     assert render("{% for t in post.tags %}#{{ t }}{% endfor %}", post={"tags": ["a", "b"]}) == "#a#b"
 
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m pytest -rA -p no:cacheprovider tests/test_scoping.py tests/test_tags.py
: '>>>>> End Test Output'
git checkout 95ccbc0e87684af1293caf0374d29fdb8d856d47 -- tests/test_tags.py
