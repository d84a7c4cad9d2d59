"""Expressions inside tags: `user.name|default:"n/a"|upper`, and `not` tests."""

import re

from .errors import TemplateSyntaxError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


class Literal:
    def __init__(self, value):
        self.value = value

    def resolve(self, context):
        return self.value


class Lookup:
    """A dotted name: each part is tried as a key, then an attribute, then a list index."""

    def __init__(self, path):
        self.path = path
        self.parts = path.split(".")

    def resolve(self, context):
        value = context.lookup(self.parts[0])
        for part in self.parts[1:]:
            value = _step(value, part)
            if value is None:
                return None
        return value


def _step(value, part):
    if isinstance(value, dict):
        return value.get(part)
    if part.isdigit() and isinstance(value, (list, tuple)):
        index = int(part)
        return value[index] if index < len(value) else None
    return getattr(value, part, None)


def parse_literal(text):
    """A quoted string or a number, or None if `text` is neither."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return Literal(text[1:-1])
    if _NUMBER_RE.match(text):
        return Literal(float(text) if "." in text else int(text))
    return None


def parse_operand(text, lineno=None):
    text = text.strip()
    literal = parse_literal(text)
    if literal is not None:
        return literal
    if text and text[0] in "'\"":
        raise TemplateSyntaxError(f"unterminated string literal {text}", lineno)
    if not _NAME_RE.match(text):
        raise TemplateSyntaxError(f"invalid expression {text!r}", lineno)
    return Lookup(text)


class FilterExpression:
    """An operand followed by zero or more `|name` or `|name:arg` filters."""

    def __init__(self, operand, filters):
        self.operand = operand
        self.filters = filters  # [(name, arg operand or None)]

    def resolve(self, context):
        from .filters import apply_filter

        value = self.operand.resolve(context)
        for name, arg in self.filters:
            value = apply_filter(name, value, None if arg is None else arg.resolve(context))
        return value


def parse_filter_expression(text, lineno=None):
    parts = text.split("|")
    operand = parse_operand(parts[0], lineno)
    filters = []
    for part in parts[1:]:
        name, colon, arg = part.partition(":")
        name = name.strip()
        if not _NAME_RE.match(name):
            raise TemplateSyntaxError(f"invalid filter name {name!r}", lineno)
        filters.append((name, parse_operand(arg, lineno) if colon else None))
    return FilterExpression(operand, filters)


class Not:
    def __init__(self, expr):
        self.expr = expr

    def resolve(self, context):
        return not self.expr.resolve(context)


def parse_condition(text, lineno=None):
    """An `if` condition: an optional leading `not`, then a filter expression."""
    text = text.strip()
    if text.startswith("not "):
        return Not(parse_condition(text[4:], lineno))
    return parse_filter_expression(text, lineno)
