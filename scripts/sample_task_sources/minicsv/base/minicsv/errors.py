"""Exceptions raised by minicsv."""


class CSVError(ValueError):
    """Malformed CSV input."""

    def __init__(self, message, line_num=None):
        if line_num is not None:
            message = f"line {line_num}: {message}"
        super().__init__(message)
        self.line_num = line_num


class DialectError(ValueError):
    """An invalid or unknown dialect."""
