import pytest

from minitmpl import Template, TemplateSyntaxError


def render(source, **variables):
    return Template(source).render(**variables)


def test_if_else():
    source = "{% if user %}Hi {{ user }}{% else %}Hi stranger{% endif %}"
    assert render(source, user="ann") == "Hi ann"
    assert render(source) == "Hi stranger"


def test_if_not():
    assert render("{% if not items %}empty{% endif %}", items=[]) == "empty"


def test_if_with_filter():
    assert render("{% if xs|length %}{{ xs|length }} items{% endif %}", xs=[1, 2]) == "2 items"


def test_for_loop():
    assert render("{% for x in xs %}[{{ x }}]{% endfor %}", xs=[1, 2, 3]) == "[1][2][3]"


def test_for_else():
    assert render("{% for x in xs %}{{ x }}{% else %}none{% endfor %}", xs=[]) == "none"


def test_loop_variables():
    source = "{% for x in xs %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %} {% endfor %}"
    assert render(source, xs="abc") == "1/3F 2/3 3/3L "


def test_for_over_dotted_name():
    assert render("{% for t in post.tags %}#{{ t }}{% endfor %}", post={"tags": ["a", "b"]}) == "#a#b"


def test_comments_render_nothing():
    assert render("a{# hidden #}b") == "ab"


@pytest.mark.parametrize(
    "source",
    ["{% if x %}", "{% for x in xs %}", "{% for x xs %}{% endfor %}", "{% bogus %}", "{% %}", "{% endif %}"],
    ids=["unclosed-if", "unclosed-for", "bad-for", "unknown-tag", "empty-tag", "stray-endif"],
)
def test_syntax_errors(source):
    with pytest.raises(TemplateSyntaxError):
        Template(source)
