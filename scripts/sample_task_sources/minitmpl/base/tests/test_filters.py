import pytest

from minitmpl import Template, TemplateError, TemplateSyntaxError, register_filter


def render(source, **variables):
    return Template(source).render(**variables)


def test_case_filters():
    assert render("{{ s|upper }} {{ s|lower }} {{ s|title }}", s="hello World") == "HELLO WORLD hello world Hello World"


def test_filter_chain_applies_left_to_right():
    assert render("{{ s|lower|title }}", s="hELLO") == "Hello"


def test_default():
    assert render("{{ missing|default:'n/a' }}") == "n/a"
    assert render("{{ s|default:'n/a' }}", s="") == "n/a"
    assert render("{{ n|default:5 }}", n=0) == "0"


def test_length_first_last():
    assert render("{{ xs|length }} {{ xs|first }} {{ xs|last }}", xs=[3, 4, 5]) == "3 3 5"


def test_join_default_separator():
    assert render("{{ xs|join }}", xs=["a", "b"]) == "a, b"


def test_join_with_separator():
    assert render('{{ xs|join:" / " }}', xs=["a", "b", "c"]) == "a / b / c"


def test_truncate():
    assert render("{{ s|truncate:5 }}", s="abcdefgh") == "abcd…"
    assert render("{{ s|truncate:10 }}", s="short") == "short"


def test_escape():
    assert render("{{ s|escape }}", s="<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"


def test_replace():
    assert render("{{ s|replace:'_-> ' }}", s="snake_case_name") == "snake case name"
    assert render("{{ s|replace:'a->o' }}", s="banana") == "bonono"


def test_argument_with_colon():
    assert render('{{ t|replace:"12:00->noon" }}', t="at 12:00") == "at noon"


def test_unknown_filter():
    with pytest.raises(TemplateError, match="unknown filter 'nope'"):
        render("{{ x|nope }}", x=1)


def test_invalid_filter_name():
    with pytest.raises(TemplateSyntaxError):
        Template("{{ x|1up }}")


def test_unterminated_string_argument():
    with pytest.raises(TemplateSyntaxError, match="unterminated"):
        Template("{{ x|default:'abc }}")


def test_register_filter():
    @register_filter("shout")
    def shout(value, times=1):
        return str(value).upper() + "!" * int(times)

    assert render("{{ s|shout }} {{ s|shout:3 }}", s="hi") == "HI! HI!!!"
