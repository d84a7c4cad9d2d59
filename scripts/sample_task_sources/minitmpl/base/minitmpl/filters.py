"""Built-in filters, and registering new ones."""

import html

from .errors import TemplateError

FILTERS = {}


def register_filter(name, func=None):
    """Register `func(value, arg=None)` as filter `name`; usable as a decorator."""
    if func is None:
        return lambda f: register_filter(name, f)
    FILTERS[name] = func
    return func


def apply_filter(name, value, arg):
    try:
        func = FILTERS[name]
    except KeyError:
        raise TemplateError(f"unknown filter {name!r}") from None
    return func(value) if arg is None else func(value, arg)


def _text(value):
    return "" if value is None else str(value)


register_filter("upper", lambda v: _text(v).upper())
register_filter("lower", lambda v: _text(v).lower())
register_filter("title", lambda v: _text(v).title())
register_filter("length", lambda v: len(v) if v is not None else 0)
register_filter("escape", lambda v: html.escape(_text(v)))
register_filter("first", lambda v: v[0] if v else None)
register_filter("last", lambda v: v[-1] if v else None)


@register_filter("default")
def _default(value, fallback=""):
    return fallback if value is None or value == "" else value


@register_filter("join")
def _join(value, sep=", "):
    return sep.join(_text(item) for item in value or ())


@register_filter("truncate")
def _truncate(value, length=80):
    text = _text(value)
    length = int(length)
    return text if len(text) <= length else text[: max(length - 1, 0)] + "…"


@register_filter("replace")
def _replace(value, arg):
    old, sep, new = str(arg).partition("->")
    if not sep:
        raise TemplateError("replace needs an argument like 'old->new'")
    return _text(value).replace(old, new)
