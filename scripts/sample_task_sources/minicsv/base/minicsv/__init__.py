"""minicsv: a small CSV reader and writer with configurable dialects."""

from .dialect import EXCEL, EXCEL_TAB, UNIX, Dialect, get_dialect, list_dialects, register_dialect
from .errors import CSVError, DialectError
from .reader import DictReader, Reader, reader
from .writer import DictWriter, Writer, format_row, writer

__version__ = "0.4.0"

__all__ = [
    "CSVError",
    "Dialect",
    "DialectError",
    "DictReader",
    "DictWriter",
    "EXCEL",
    "EXCEL_TAB",
    "Reader",
    "UNIX",
    "Writer",
    "format_row",
    "get_dialect",
    "list_dialects",
    "reader",
    "register_dialect",
    "writer",
]
