"""The command line's CSV reader (fastbp._csv): numbers kept as numbers,
bounded memory, and work linear in rows x columns however wide the file."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastbp
from fastbp import _csv


def _env():
    """The environment of a child that imports this very fastbp."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    return env


def test_csv_columns_are_kept_as_numbers_while_reading(tmp_path):
    import tracemalloc

    n_cols, n_rows = 20, 50_000
    rng = np.random.RandomState(0)
    path = tmp_path / "big.csv"
    np.savetxt(path, rng.randint(0, 9, (n_rows, n_cols)), fmt="%d", delimiter=",",
               header=",".join(f"c{i}" for i in range(n_cols)), comments="")
    tracemalloc.start()
    try:
        table = _csv.read_csv(str(path), lambda names: range(len(names) - 1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table.numeric(0).shape == (n_rows,) and table.numeric(0).dtype == np.float64
    assert table.columns[-1][:3] == [str(v) for v in np.loadtxt(
        path, delimiter=",", skiprows=1, max_rows=3, usecols=n_cols - 1, dtype=int)]
    # 8 bytes a number and the chunk being parsed, not a string per cell
    assert peak < 3 * n_rows * n_cols * 8, peak


def _wide(path, n_rows, n_cols, seed=0):
    rng = np.random.RandomState(seed)
    a = rng.randint(0, 9, (n_rows, n_cols))
    np.savetxt(path, a, fmt="%d", delimiter=",",
               header=",".join(f"c{i}" for i in range(n_cols)), comments="")
    return a


def test_csv_parses_each_cell_once_in_chunks_of_rows_not_per_column(tmp_path, monkeypatch):
    """The work per file: one column-type pass, and the numbers parsed a
    chunk of rows at a time (all numeric columns together), each cell once:
    nothing per column that grows with the number of columns."""
    n_rows, n_cols = 40, 200_000
    a = _wide(tmp_path / "wide.csv", n_rows, n_cols)
    calls, cells, parsed = [], [], []
    real = _csv._parse_rows

    def counting_parse(table, num, rows, lines):
        cells.append(len(num) * len(rows))
        return real(table, num, rows, lines)

    def numeric(names):
        calls.append(len(names))
        return range(len(names) - 1)

    def counting_chunk(*args):
        parsed.append(args[1])
        return real_chunk(*args)

    real_chunk = _csv._parse_chunk
    monkeypatch.setattr(_csv, "_parse_rows", counting_parse)
    monkeypatch.setattr(_csv, "_parse_chunk", counting_chunk)
    table = _csv.read_csv(str(tmp_path / "wide.csv"), numeric)
    assert calls == [n_cols]                       # the column-type pass: once
    assert sum(cells) == n_rows * (n_cols - 1)     # every numeric cell, once
    per_chunk = _csv._CSV_CHUNK_CELLS // n_cols    # rows of strings held at once
    assert len(cells) == -(-n_rows // per_chunk)
    assert parsed == []                            # no per-column pass when all good
    X = table.numeric_matrix(range(n_cols - 1))
    assert X.shape == (n_rows, n_cols - 1)
    assert np.array_equal(X, a[:, :-1])
    assert table.columns[-1] == [str(v) for v in a[:, -1]]


def test_csv_first_bad_value_is_named_as_column_by_column(tmp_path):
    """A chunk parsed as one block still names the first bad value that a
    column-by-column pass finds: the first column in order, its first line."""
    path = tmp_path / "bad.csv"
    path.write_text("a,b,c,y\n1,2,3,0\n4,x,5,1\n6,7,,0\n")
    with pytest.raises(_csv.CSVError, match=r"column 'b' is not numeric \(line 3: 'x'\)"):
        _csv.read_csv(str(path), lambda names: [0, 1, 2])
    path.write_text("a,b,c,y\n1,2,3,0\n4,5,inf,1\n")
    with pytest.raises(_csv.CSVError, match=r"column 'c' has a non-finite value 'inf' "
                                            r"\(line 3\)"):
        _csv.read_csv(str(path), lambda names: [0, 1, 2])
    path.write_text("a,a,y\n1,2,0\n")
    with pytest.raises(_csv.CSVError, match="duplicate column names: a"):
        _csv.read_csv(str(path), lambda names: [0, 1])


def test_csv_of_a_million_columns_reads(tmp_path):
    """A 1e6-column file of 4 rows (about 16 MB) goes through the command
    line's loader. The child is killed after a generous 120 s only so that a
    regression fails instead of hanging the suite (the quadratic pass took
    hours on such a file)."""
    n_cols = 1_000_000
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:
        f.write(",".join(f"c{i}" for i in range(n_cols)) + "\n")
        for r in range(4):
            f.write(",".join(str((i + r) % 7) for i in range(n_cols)) + "\n")
    code = textwrap.dedent(f"""
        import resource
        import numpy
        from fastbp._cli import _load_training_data
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        X, y, info = _load_training_data({str(path)!r}, None)
        assert X.shape == (4, {n_cols - 1}), X.shape
        assert X[3, 10] == (10 + 3) % 7
        assert y.tolist() == [float(({n_cols} - 1 + r) % 7) for r in range(4)]
        assert len(info["features"]) == {n_cols - 1}
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    env = _env()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                              text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 1e6-column CSV did not finish in 120 s")
    assert proc.returncode == 0, proc.stderr
    grown_kib = int(proc.stdout.split()[-1])
    # the names and one row as Python strings (about 50 bytes a cell of 2)
    # and the numbers: bounded by the file, not by rows x columns squared
    assert grown_kib * 1024 < 20 * os.path.getsize(path), grown_kib
