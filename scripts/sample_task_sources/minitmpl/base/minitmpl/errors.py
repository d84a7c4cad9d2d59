"""Exceptions raised by minitmpl."""


class TemplateError(Exception):
    """Base class for template errors."""


class TemplateSyntaxError(TemplateError):
    def __init__(self, message, lineno=None):
        if lineno is not None:
            message = f"line {lineno}: {message}"
        super().__init__(message)
        self.lineno = lineno


class UndefinedError(TemplateError):
    """A variable that is not defined, in strict mode."""
