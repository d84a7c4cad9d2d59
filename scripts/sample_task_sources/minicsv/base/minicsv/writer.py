"""Writing CSV records."""

from .dialect import get_dialect


def _needs_quoting(text, dialect):
    return dialect.delimiter in text or text != text.strip(" ")


def _format_field(value, dialect):
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if _needs_quoting(text, dialect):
        q = dialect.quotechar
        return q + text.replace(q, q + q) + q
    return text


def format_row(row, dialect="excel", **overrides):
    """One record as CSV text, including the line terminator."""
    d = get_dialect(dialect, **overrides)
    return d.delimiter.join(_format_field(value, d) for value in row) + d.lineterminator


class Writer:
    def __init__(self, stream, dialect="excel", **overrides):
        self.stream = stream
        self.dialect = get_dialect(dialect, **overrides)

    def writerow(self, row):
        text = format_row(row, self.dialect)
        self.stream.write(text)
        return len(text)

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(stream, dialect="excel", **overrides):
    return Writer(stream, dialect, **overrides)


class DictWriter:
    """Writes dicts as records, in the order of `fieldnames`."""

    def __init__(self, stream, fieldnames, restval="", extrasaction="raise", dialect="excel", **overrides):
        if extrasaction not in ("raise", "ignore"):
            raise ValueError(f"extrasaction must be 'raise' or 'ignore', not {extrasaction!r}")
        self.writer = Writer(stream, dialect, **overrides)
        self.fieldnames = list(fieldnames)
        self.restval = restval
        self.extrasaction = extrasaction

    def writeheader(self):
        return self.writer.writerow(self.fieldnames)

    def writerow(self, record):
        if self.extrasaction == "raise":
            extra = [key for key in record if key not in self.fieldnames]
            if extra:
                raise ValueError(f"record has fields not in fieldnames: {', '.join(map(repr, extra))}")
        return self.writer.writerow([record.get(name, self.restval) for name in self.fieldnames])

    def writerows(self, records):
        for record in records:
            self.writerow(record)
