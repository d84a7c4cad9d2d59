"""Dialects: the formatting parameters shared by readers and writers."""

from dataclasses import dataclass, replace

from .errors import DialectError


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    quotechar: str = '"'
    lineterminator: str = "\r\n"
    skipinitialspace: bool = False
    strict: bool = False

    def __post_init__(self):
        for name in ("delimiter", "quotechar"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) != 1:
                raise DialectError(f"{name} must be a single character, not {value!r}")
        if self.delimiter == self.quotechar:
            raise DialectError("delimiter and quotechar must differ")
        if self.delimiter in "\r\n" or self.quotechar in "\r\n":
            raise DialectError("delimiter and quotechar cannot be line breaks")
        if not self.lineterminator:
            raise DialectError("lineterminator cannot be empty")

    def with_options(self, **options):
        """A copy of this dialect with some parameters changed."""
        unknown = set(options) - set(self.__dataclass_fields__)
        if unknown:
            raise DialectError(f"unknown dialect option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)


EXCEL = Dialect()
EXCEL_TAB = Dialect(delimiter="\t")
UNIX = Dialect(lineterminator="\n")

_registry = {"excel": EXCEL, "excel-tab": EXCEL_TAB, "unix": UNIX}


def register_dialect(name, dialect=None, **options):
    """Register `dialect` (or the default dialect with `options`) under `name`."""
    base = dialect if dialect is not None else EXCEL
    _registry[name] = base.with_options(**options) if options else base
    return _registry[name]


def list_dialects():
    return sorted(_registry)


def get_dialect(dialect="excel", **overrides):
    """Resolve a dialect name or instance, applying any keyword overrides."""
    if isinstance(dialect, str):
        try:
            dialect = _registry[dialect]
        except KeyError:
            raise DialectError(f"unknown dialect {dialect!r}") from None
    elif not isinstance(dialect, Dialect):
        raise DialectError(f"expected a dialect name or Dialect, not {type(dialect).__name__}")
    return dialect.with_options(**overrides) if overrides else dialect
