"""The variables visible while a template renders."""

from contextlib import contextmanager

from .errors import UndefinedError


class Context:
    """Wraps the mapping a template is rendered with, under a stack of inner scopes.

    Names set while rendering (loop variables) go into the innermost scope, so they
    never overwrite the caller's mapping and disappear when their block ends.

    In strict mode, looking up an undefined name raises `UndefinedError`;
    otherwise it is `None`, which renders as an empty string.
    """

    def __init__(self, data=None, strict=False):
        self.data = data if data is not None else {}
        self.scopes = [self.data]
        self.strict = strict

    def lookup(self, name):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if self.strict:
            raise UndefinedError(f"{name!r} is undefined")
        return None

    def set(self, name, value):
        self.scopes[-1][name] = value

    def push(self):
        self.scopes.append({})

    def pop(self):
        if len(self.scopes) == 1:
            raise RuntimeError("cannot pop the outermost scope")
        self.scopes.pop()

    @contextmanager
    def scope(self):
        """A scope for the duration of a block: `with context.scope(): ...`."""
        self.push()
        try:
            yield self
        finally:
            self.pop()

    def __contains__(self, name):
        return any(name in scope for scope in self.scopes)
