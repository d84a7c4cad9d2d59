from types import SimpleNamespace

import pytest

from minitmpl import Template, UndefinedError, render_string


def test_plain_text():
    assert render_string("no tags here") == "no tags here"


def test_variables_from_dict_and_kwargs():
    assert render_string("{{ a }}-{{ b }}", {"a": 1}, b=2) == "1-2"


def test_kwargs_override_dict():
    assert render_string("{{ a }}", {"a": 1}, a=2) == "2"


def test_dotted_lookup_dict_attr_index():
    obj = SimpleNamespace(name="ann", tags=["x", "y"])
    assert render_string("{{ o.name }} {{ o.tags.1 }} {{ d.k }}", o=obj, d={"k": "v"}) == "ann y v"


def test_missing_values_render_empty():
    assert render_string("[{{ nope }}][{{ d.nope.deeper }}][{{ xs.5 }}]", d={}, xs=[]) == "[][][]"


def test_literals():
    assert render_string("{{ 'hi' }} {{ 42 }} {{ 1.5 }}") == "hi 42 1.5"


def test_strict_mode():
    with pytest.raises(UndefinedError, match="'nope'"):
        Template("{{ nope }}", strict=True).render()


def test_template_renders_repeatedly():
    t = Template("{{ n }}")
    assert [t.render(n=i) for i in range(3)] == ["0", "1", "2"]


def test_multiline_template():
    source = "Dear {{ name }},\n{% for item in items %}- {{ item }}\n{% endfor %}"
    assert render_string(source, name="Ann", items=["a", "b"]) == "Dear Ann,\n- a\n- b\n"
