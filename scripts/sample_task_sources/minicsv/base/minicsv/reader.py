"""Reading CSV records from an iterable of lines."""

from .dialect import get_dialect
from .errors import CSVError

# parser states
START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED = range(4)


class Reader:
    """Iterates over the records in `lines`, yielding each as a list of strings.

    A quoted field may span several lines. A blank line yields an empty list.
    """

    def __init__(self, lines, dialect="excel", **overrides):
        self.dialect = get_dialect(dialect, **overrides)
        self._lines = iter(lines)
        self.line_num = 0

    def __iter__(self):
        return self

    def __next__(self):
        line = self._next_line()
        if line is None:
            raise StopIteration
        if not line:
            return []
        return self._parse_record(line)

    def _next_line(self):
        try:
            line = next(self._lines)
        except StopIteration:
            return None
        self.line_num += 1
        return line.rstrip("\r\n")

    def _parse_record(self, line):
        d = self.dialect
        fields, field, state = [], [], START_FIELD
        while True:
            for ch in line:
                if state == START_FIELD:
                    if ch == d.quotechar:
                        state = IN_QUOTED
                    elif ch == d.delimiter:
                        fields.append("")
                    elif ch == " " and d.skipinitialspace:
                        continue
                    else:
                        field.append(ch)
                        state = IN_FIELD
                elif state == IN_FIELD:
                    if ch == d.delimiter:
                        fields.append("".join(field))
                        field, state = [], START_FIELD
                    else:
                        field.append(ch)
                elif state == IN_QUOTED:
                    if ch == d.quotechar:
                        state = QUOTE_IN_QUOTED
                    else:
                        field.append(ch)
                else:  # QUOTE_IN_QUOTED: the quoted part may have ended
                    if ch == d.quotechar:
                        state = IN_QUOTED
                    elif ch == d.delimiter:
                        fields.append("".join(field))
                        field, state = [], START_FIELD
                    elif d.strict:
                        raise CSVError(f"{d.delimiter!r} expected after {d.quotechar!r}", self.line_num)
                    else:
                        field.append(ch)
                        state = IN_FIELD
            if state != IN_QUOTED:
                break
            # the quoted field continues on the next line
            line = self._next_line()
            if line is None:
                raise CSVError("unexpected end of data inside a quoted field", self.line_num)
            field.append("\n")
        fields.append("".join(field))
        return fields


def reader(lines, dialect="excel", **overrides):
    return Reader(lines, dialect, **overrides)


class DictReader:
    """Yields each record as a dict keyed by the header row (or `fieldnames`).

    Extra values go to a list under `restkey`; missing ones are filled with `restval`.
    Blank lines are skipped.
    """

    def __init__(self, lines, fieldnames=None, restkey=None, restval=None, dialect="excel", **overrides):
        self.reader = Reader(lines, dialect, **overrides)
        self._fieldnames = list(fieldnames) if fieldnames is not None else None
        self.restkey = restkey
        self.restval = restval

    @property
    def fieldnames(self):
        if self._fieldnames is None:
            for row in self.reader:
                if row:
                    self._fieldnames = row
                    break
        return self._fieldnames

    def __iter__(self):
        return self

    def __next__(self):
        names = self.fieldnames
        if names is None:
            raise StopIteration
        row = next(self.reader)
        while not row:
            row = next(self.reader)
        record = dict(zip(names, row))
        if len(row) > len(names):
            record[self.restkey] = row[len(names):]
        for name in names[len(row):]:
            record[name] = self.restval
        return record
