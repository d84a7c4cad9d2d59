"""The variables visible while a template renders."""

from .errors import UndefinedError


class Context:
    """Wraps the mapping a template is rendered with.

    In strict mode, looking up an undefined name raises `UndefinedError`;
    otherwise it is `None`, which renders as an empty string.
    """

    def __init__(self, data=None, strict=False):
        self.data = data if data is not None else {}
        self.strict = strict

    def lookup(self, name):
        if name in self.data:
            return self.data[name]
        if self.strict:
            raise UndefinedError(f"{name!r} is undefined")
        return None

    def set(self, name, value):
        self.data[name] = value

    def __contains__(self, name):
        return name in self.data
