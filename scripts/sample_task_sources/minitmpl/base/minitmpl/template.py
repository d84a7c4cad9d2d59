"""Compiled templates."""

from .context import Context
from .lexer import tokenize
from .nodes import Parser, render_nodes


class Template:
    """A template compiled once and rendered any number of times."""

    def __init__(self, source, strict=False):
        self.source = source
        self.strict = strict
        self.nodes, _, _ = Parser(tokenize(source)).parse()

    def render(self, context=None, **variables):
        data = context if context is not None else {}
        if variables:
            data = {**data, **variables}
        return render_nodes(self.nodes, Context(data, strict=self.strict))


def render_string(source, context=None, **variables):
    return Template(source).render(context, **variables)
