"""Names set while rendering stay inside the block that set them."""

from minitmpl import Template, UndefinedError

import pytest


def test_loop_does_not_modify_callers_context():
    context = {"items": [1, 2, 3]}
    Template("{% for item in items %}{{ item }}{% endfor %}").render(context)
    assert context == {"items": [1, 2, 3]}


def test_loop_variable_does_not_shadow_outer_value_after_loop():
    context = {"items": [1, 2], "item": "outer"}
    assert Template("{% for item in items %}{{ item }}{% endfor %} {{ item }}").render(context) == "12 outer"
    assert context["item"] == "outer"


def test_loop_variable_is_gone_after_loop():
    assert Template("{% for x in xs %}{{ x }}{% endfor %}[{{ x }}][{{ loop.index }}]").render(xs=[1]) == "1[][]"


def test_loop_variable_undefined_after_loop_in_strict_mode():
    template = Template("{% for x in xs %}{{ x }}{% endfor %}{{ x }}", strict=True)
    with pytest.raises(UndefinedError):
        template.render(xs=[1])


def test_rendering_twice_with_same_context():
    template = Template("{% for x in xs %}{{ x }}{% endfor %}{% if x %}leaked{% endif %}")
    context = {"xs": ["a"]}
    assert template.render(context) == "a"
    assert template.render(context) == "a"


def test_loop_variable_visible_inside_body():
    assert Template("{% for x in xs %}{% if x %}{{ x }}{% endif %}{% endfor %}").render(xs=[0, 1, 2]) == "12"


def test_outer_variables_visible_inside_loop():
    assert Template("{% for x in xs %}{{ prefix }}{{ x }} {% endfor %}").render(prefix="#", xs=[1, 2]) == "#1 #2 "
