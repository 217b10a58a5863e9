"""The command line's CSV reader: a header row, then one row per sample.

Reading costs time linear in rows x columns: the column-type pass and the
number parsing look at each cell once, through sets and index maps built
once per file, and numbers are parsed a chunk of rows at a time (about a
million cells at most, so that a file a million columns wide holds one row
of strings at a time). Numeric columns are kept as float64 (8 bytes a value,
not a Python string); the first missing, non-numeric or non-finite value
stops the reading with its line number.
"""
import collections
import csv
import operator

_CSV_CHUNK = 4096  # rows parsed into numbers at a time, at most
_CSV_CHUNK_CELLS = 1 << 20  # cells parsed at a time, at most


class CSVError(ValueError):
    """A CSV file that cannot be read as data, named with the problem."""

    status = 1


def _shorten(names, n=12):
    names = [str(x) for x in names]
    text = ", ".join(names[:n])
    return text + (f", ... ({len(names)} in all)" if len(names) > n else "")


def positions(names):
    """{name: index of its first column}, as ``names.index(name)`` gives."""
    where = {}
    for i, name in enumerate(names):
        where.setdefault(name, i)
    return where


class _Table:
    """Columns read from a CSV: names and the raw strings of each column."""

    def __init__(self, path, names, columns, lines, matrix=None, where=None):
        self.path = path
        self.names = names
        self.columns = columns
        self.lines = lines  # the file's line number of each row
        # the numeric columns side by side, and each column's place in it
        # (-1: kept as strings)
        self._matrix, self._where = matrix, where
        self._positions = None

    def position(self, name):
        """Index of column `name` (its first), or None."""
        if self._positions is None:
            self._positions = positions(self.names)
        return self._positions.get(name)

    def index(self, name):
        i = self.position(name)
        if i is not None:
            return i
        # Every column (a wide file's too: the one wanted may be anywhere),
        # and the one taken without --target.
        raise CSVError(f"{self.path}: no column named {name!r}; its "
                       f"{len(self.names)} columns are: "
                       f"{_shorten(self.names, n=1000)} (without --target, the "
                       f"last one, {self.names[-1]!r}, is the target)")

    def numeric_matrix(self, cols):
        """Columns `cols` as one float64 array (n_rows, len(cols))."""
        import numpy as np

        if self._matrix is not None:
            j = self._where[np.asarray(cols, dtype=np.intp)]
            if (j >= 0).all():
                return self._matrix[:, j]
        return np.column_stack([self.numeric(i) for i in cols])

    def numeric(self, i):
        import numpy as np

        values = self.columns[i]
        if isinstance(values, np.ndarray):
            return values  # parsed and checked while reading
        name = self.names[i]
        try:
            out = np.array(values, dtype=np.float64)
        except ValueError:
            out = None
        if out is not None and np.isfinite(out).all():
            return out
        for row, v in zip(self.lines, values):
            text = v.strip()
            if text == "":
                raise CSVError(f"{self.path}: column {name!r} has a missing value "
                               f"(line {row}); fill or drop such rows first")
            try:
                f = float(text)
            except ValueError:
                raise CSVError(
                    f"{self.path}: column {name!r} is not numeric (line {row}: "
                    f"{v!r}); features must be numbers: encode categories as "
                    f"numbers or drop the column") from None
            if f != f or f in (float("inf"), float("-inf")):
                raise CSVError(f"{self.path}: column {name!r} has a non-finite "
                               f"value {v!r} (line {row})")
        raise CSVError(f"{self.path}: column {name!r} could not be read as numbers")


def _parse_chunk(table, i, values, lines):
    """float64 values of column i for these rows, or the CSVError of the
    first bad one (missing, not numeric, not finite) with its line."""
    return _Table(table.path, table.names, {i: values}, lines).numeric(i)


def _parse_rows(table, num, rows, lines):
    """float64 array (len(rows), len(num)) of columns num of these rows (lists
    of strings), or the CSVError of the first bad value, column by column as
    _parse_chunk finds it."""
    import numpy as np

    if len(num) == len(table.names):
        flat = [v for r in rows for v in r]
    elif len(num) == 1:
        flat = [r[num[0]] for r in rows]
    else:
        pick = operator.itemgetter(*num)
        flat = [v for r in rows for v in pick(r)]
    try:
        out = np.array(flat, dtype=np.float64).reshape(len(rows), len(num))
    except ValueError:
        out = None
    if out is not None and np.isfinite(out).all():
        return out
    for i in num:  # the first bad column, with its message
        _parse_chunk(table, i, [r[i] for r in rows], lines)
    raise CSVError(f"{table.path}: could not be read as numbers")  # pragma: no cover


def read_csv(path, numeric=None):
    """The columns of a CSV file with a header row.

    `numeric(names)` gives the indices of the columns that must hold
    numbers (it is called once): those are parsed while reading, a chunk of
    rows at a time (8 bytes a value, not a Python string), and the first
    missing or bad value stops the reading with its line number: memory
    stays bounded whatever the file. The other columns are kept as strings.
    Time is linear in rows x columns."""
    import numpy as np

    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            sample = f.read(65536)
        except UnicodeDecodeError:
            raise CSVError(f"{path}: not a text CSV file (it is not UTF-8)") from None
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        try:
            header = next(reader, None)
            if header is None:
                raise CSVError(f"{path}: the file is empty (a CSV needs a header row)")
            names = [h.strip() for h in header]
            del header
            num = sorted(set(numeric(names))) if numeric is not None else []
            num_set = set(num)
            text = [i for i in range(len(names)) if i not in num_set]
            table = _Table(path, names, None, None)
            parsed = []
            strings = {i: [] for i in text}
            rows, lines, chunk_lines = 0, [], []
            chunk = []
            chunk_rows = max(1, min(_CSV_CHUNK, _CSV_CHUNK_CELLS // max(1, len(names))))

            def flush():
                if chunk and num:
                    parsed.append(_parse_rows(table, num, chunk, chunk_lines))
                for i in text:
                    strings[i].extend(r[i] for r in chunk)
                lines.extend(chunk_lines)
                chunk.clear()
                chunk_lines.clear()

            for row in reader:
                if not row or not any(c.strip() for c in row):
                    continue
                line = reader.line_num
                if len(row) != len(names):
                    raise CSVError(f"{path}: line {line} has {len(row)} fields, the "
                                   f"header has {len(names)}")
                chunk.append(row)
                chunk_lines.append(line)
                rows += 1
                if len(chunk) == chunk_rows:
                    flush()
            flush()
        except csv.Error as exc:
            raise CSVError(f"{path}: not a readable CSV file ({exc})") from None
        except UnicodeDecodeError:
            raise CSVError(f"{path}: not a text CSV file (it is not UTF-8)") from None
    if not rows:
        raise CSVError(f"{path}: no data rows after the header")
    if len(set(names)) != len(names):
        dup = sorted(n for n, c in collections.Counter(names).items() if c > 1)
        raise CSVError(f"{path}: duplicate column names: {_shorten(dup)}")
    matrix = (np.concatenate(parsed) if num
              else np.empty((rows, 0), dtype=np.float64))
    where = np.full(len(names), -1, dtype=np.intp)
    where[num] = np.arange(len(num))
    return _Table(path, names, _Columns(matrix, where, strings), lines,
                  matrix=matrix, where=where)


class _Columns:
    """table.columns[i]: a numeric column's float64 values (a view of the
    numbers read) or a text column's strings, made when asked for (a view
    per column of a million-column file would weigh more than the file)."""

    def __init__(self, matrix, where, strings):
        self._matrix, self._where, self._strings = matrix, where, strings

    def __len__(self):
        return len(self._where)

    def __getitem__(self, i):
        j = self._where[i]
        return self._matrix[:, j] if j >= 0 else self._strings[range(len(self))[i]]
