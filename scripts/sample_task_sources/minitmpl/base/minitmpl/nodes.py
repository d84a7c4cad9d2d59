"""The template tree: parsing tokens into nodes, and rendering them."""

from .errors import TemplateSyntaxError
from .expr import parse_condition, parse_filter_expression
from .lexer import BLOCK, COMMENT, TEXT, VAR


class TextNode:
    def __init__(self, text):
        self.text = text

    def render(self, context):
        return self.text


class VarNode:
    def __init__(self, expr):
        self.expr = expr

    def render(self, context):
        value = self.expr.resolve(context)
        return "" if value is None else str(value)


class IfNode:
    def __init__(self, condition, body, orelse):
        self.condition, self.body, self.orelse = condition, body, orelse

    def render(self, context):
        branch = self.body if self.condition.resolve(context) else self.orelse
        return render_nodes(branch, context)


class ForNode:
    """`{% for x in items %}...{% else %}...{% endfor %}`, with `loop.index`, `loop.first`, ..."""

    def __init__(self, var, iterable, body, orelse):
        self.var, self.iterable, self.body, self.orelse = var, iterable, body, orelse

    def render(self, context):
        items = list(self.iterable.resolve(context) or ())
        if not items:
            return render_nodes(self.orelse, context)
        out = []
        for index, item in enumerate(items):
            context.set(self.var, item)
            context.set("loop", {
                "index": index + 1,
                "index0": index,
                "first": index == 0,
                "last": index == len(items) - 1,
                "length": len(items),
            })
            out.append(render_nodes(self.body, context))
        return "".join(out)


def render_nodes(nodes, context):
    return "".join(node.render(context) for node in nodes)


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def parse(self, end_tags=()):
        """Nodes up to one of `end_tags`; returns (nodes, the end tag's words, its line)."""
        nodes = []
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            self.pos += 1
            if token.kind == TEXT:
                nodes.append(TextNode(token.value))
            elif token.kind == VAR:
                nodes.append(VarNode(parse_filter_expression(token.value, token.lineno)))
            elif token.kind == BLOCK:
                words = token.value.split()
                if not words:
                    raise TemplateSyntaxError("empty block tag", token.lineno)
                if words[0] in end_tags:
                    return nodes, words, token.lineno
                nodes.append(self._block(words, token))
            elif token.kind != COMMENT:
                raise TemplateSyntaxError(f"unexpected token {token.kind}", token.lineno)
        if end_tags:
            raise TemplateSyntaxError(f"missing {{% {end_tags[-1]} %}}")
        return nodes, None, None

    def _block(self, words, token):
        if words[0] == "if":
            return self._if(token)
        if words[0] == "for":
            return self._for(words, token)
        raise TemplateSyntaxError(f"unknown tag {words[0]!r}", token.lineno)

    def _if(self, token):
        condition = parse_condition(token.value[2:], token.lineno)
        body, end, lineno = self.parse(("else", "endif"))
        orelse = []
        if end[0] == "else":
            orelse, end, lineno = self.parse(("endif",))
        return IfNode(condition, body, orelse)

    def _for(self, words, token):
        if len(words) < 4 or words[2] != "in":
            raise TemplateSyntaxError("for tag must look like 'for x in items'", token.lineno)
        iterable = parse_filter_expression(" ".join(words[3:]), token.lineno)
        body, end, _ = self.parse(("else", "endfor"))
        orelse = []
        if end[0] == "else":
            orelse, end, _ = self.parse(("endfor",))
        return ForNode(words[1], iterable, body, orelse)
