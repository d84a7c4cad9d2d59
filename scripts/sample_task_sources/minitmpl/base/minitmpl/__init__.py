"""minitmpl: a tiny text templating language."""

from .errors import TemplateError, TemplateSyntaxError, UndefinedError
from .filters import register_filter
from .template import Template, render_string

__version__ = "0.3.0"

__all__ = ["Template", "TemplateError", "TemplateSyntaxError", "UndefinedError", "register_filter", "render_string"]
