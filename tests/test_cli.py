"""The command line (fastbp._cli, ``python -m fastbp``), run as a user runs
it: in a subprocess, on small files, checking output, files and exit codes.

Independent commands start together (each subprocess mostly waits on
imports), so the module runs in a few seconds of wall time.
"""
import csv
import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastbp
from fastbp._io import load, read_metadata

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))


def _env():
    env = dict(os.environ)
    # The subprocess imports this very fastbp (the in-place build).
    env["PYTHONPATH"] = os.pathsep.join(
        [PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("FASTBP_DEBUG", None)
    env["COLUMNS"] = "100"
    return env


class Result:
    def __init__(self, args, proc, out, err):
        self.args, self.returncode, self.out, self.err = args, proc.returncode, out, err

    def __repr__(self):
        return (f"fastbp {' '.join(self.args)} -> {self.returncode}\n"
                f"--- stdout\n{self.out}\n--- stderr\n{self.err}")


def run_many(commands, cwd, timeout=240):
    """Start every command at once; return their Results in order."""
    procs = [subprocess.Popen([sys.executable, "-m", "fastbp", *args], cwd=cwd,
                              env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for args in commands]
    results = []
    for args, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=timeout)
        results.append(Result(args, proc, out, err))
    return results


def run(*args, cwd):
    return run_many([list(args)], cwd)[0]


# -- data -----------------------------------------------------------------------------
KINDS = np.array(["ant", "bee", "cow"])


def _animals(n=120, seed=0):
    rng = np.random.RandomState(seed)
    label = rng.randint(0, 3, n)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 0.0]
    X[:, 0] += 2.5 * label
    X[:, 2] += 0.3 * (label == 1)
    return X, KINDS[label]


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y = _animals()
    # The target sits between the features: --target picks it by name.
    _write_csv(d / "animals.csv", ["leg length", "weight", "kind", "speed"],
               [[a, b, k, c] for (a, b, c), k in zip(X, y)])
    Xn, yn = _animals(30, seed=1)
    _write_csv(d / "new.csv", ["speed", "weight", "leg length"],  # other order
               [[c, b, a] for a, b, c in Xn])
    rng = np.random.RandomState(0)
    Xr = rng.normal(size=(100, 4))
    yr = Xr[:, 0] - 2 * Xr[:, 1] + 0.1 * rng.normal(size=100)
    np.savez(d / "reg.npz", X=Xr, y=yr)
    Xc = rng.normal(size=(90, 3))
    yc = (Xc[:, 0] > 0).astype(float) + (Xc[:, 1] > 1)
    np.save(d / "cls.npy", np.column_stack([yc, Xc]))  # target in column 0
    _write_csv(d / "bad.csv", ["a", "b", "y"], [[1, 2, 0], [3, "oops", 1], [4, 5, 0]])
    (d / "corrupt.fbp").write_bytes(b"PK\x03\x04 this is not a model")
    return d


@pytest.fixture(scope="module")
def trained(work):
    """The training commands (and the checks that need no model) at once."""
    commands = {
        "csv": ["train", "animals.csv", "--target", "kind", "--hidden", "8,4",
                "--activation", "tanh", "--solver", "adam", "--epochs", "40",
                "--batch-size", "16", "--learning-rate", "0.01", "--alpha", "0.001",
                "--early-stopping", "--test-size", "0.25", "--random-state", "1",
                "--threads", "1", "--out", "animals.fbp", "--plot", "curve.png",
                "--progress"],
        "npz": ["train", "reg.npz", "--quiet", "--dtype", "float32", "--epochs", "100",
                "--learning-rate", "0.01",
                "--hidden", "16", "--out", "reg.fbp"],
        "npy": ["train", "cls.npy", "--target", "0", "--solver", "lbfgs",
                "--epochs", "50", "--no-scale", "--test-size", "0", "--out", "cls.fbp"],
        "regression_task": ["train", "cls.npy", "--target", "0", "--task",
                            "regression", "--epochs", "5"],
        "help": ["--help"],
        "train_help": ["train", "--help"],
        "demo": ["demo", "--epochs", "5"],
    }
    results = run_many(list(commands.values()), cwd=work)
    return dict(zip(commands, results))


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


# -- help and demo ---------------------------------------------------------------------
def test_help_lists_every_command(trained):
    r = trained["help"]
    assert r.returncode == 0, r
    for command in ("demo", "train", "predict", "info", "bench"):
        assert command in r.out
    r = trained["train_help"]
    assert r.returncode == 0, r
    for flag in ("--target", "--hidden", "--activation", "--solver", "--epochs",
                 "--batch-size", "--learning-rate", "--alpha", "--early-stopping",
                 "--task", "--test-size", "--random-state", "--threads", "--out",
                 "--plot", "--quiet", "--progress"):
        assert flag in r.out, flag


def test_demo_compares_with_scikit_learn(trained):
    r = trained["demo"]
    assert r.returncode == 0, r
    rows = {line.split()[0]: line.split() for line in r.out.splitlines()
            if line.startswith(("fastbp ", "scikit-learn "))}
    assert set(rows) == {"fastbp", "scikit-learn"}
    for cells in rows.values():
        assert 0.5 < float(cells[1]) <= 1.0  # test accuracy after 5 epochs
        assert float(cells[2]) > 0 and cells[3] == "s" and cells[4] == "5"
    assert "test accuracy" in r.out and "fit time" in r.out
    speedup = [line for line in r.out.splitlines() if line.startswith("speedup: ")]
    assert len(speedup) == 1 and float(speedup[0].split()[1].rstrip("x")) > 0
    assert "1347 to train, 450 to test" in r.out
    assert "Warning" not in r.err


# -- train -------------------------------------------------------------------------------
def test_train_csv_with_every_flag(trained, work):
    r = trained["csv"]
    assert r.returncode == 0, r
    assert "task: classification (inferred: target 'kind' is not numeric, 3 classes)" in r.out
    (score_line,) = [x for x in r.out.splitlines() if x.startswith("held-out")]
    assert score_line.startswith("held-out accuracy: ")
    assert float(score_line.split()[2]) > 0.6
    assert "(30 rows)" in score_line
    # --progress: a bar on stderr
    assert "MLPClassifier" in r.err and "epoch" in r.err
    est = load(work / "animals.fbp")
    p = est.get_params()
    assert p["hidden_layer_sizes"] == (8, 4) and p["activation"] == "tanh"
    assert p["solver"] == "adam" and p["batch_size"] == 16 and p["n_threads"] == 1
    assert p["learning_rate_init"] == 0.01 and p["alpha"] == 0.001
    assert p["early_stopping"] and p["random_state"] == 1 and p["max_iter"] == 40
    assert list(est.classes_) == list(KINDS)
    assert est.validation_scores_  # early stopping ran
    meta = read_metadata(work / "animals.fbp")["user"]
    assert meta["target"] == "kind"
    assert meta["features"] == ["leg length", "weight", "speed"]
    assert meta["task"] == "classification" and meta["scaled"] is True
    # The standardization is folded in: the model takes raw columns.
    X, y = _animals()
    assert np.mean(est.predict(X[:, [0, 1, 2]]) == y) > 0.6


def test_train_plot_is_a_real_png(trained, work):
    import matplotlib.image as mpimg

    assert trained["csv"].returncode == 0
    img = mpimg.imread(work / "curve.png")[..., :3]
    assert img.shape[0] > 100 and img.std() > 0.02
    assert 0.005 < (img < 0.9).any(axis=2).mean() < 0.5


def test_train_npz_quiet_float32_regression(trained, work):
    r = trained["npz"]
    assert r.returncode == 0, r
    lines = _lines(r.out)
    assert len(lines) == 2, r
    assert lines[0].startswith("task: regression (inferred")
    assert lines[1].startswith("held-out R^2: ") and "(20 rows)" in lines[1]
    assert float(lines[1].split()[2]) > 0.5
    assert r.err == ""  # --quiet: no bar, no notes
    est = load(work / "reg.fbp")
    assert type(est).__name__ == "MLPRegressor"
    assert est.coefs_[0].dtype == np.float32


def test_train_npy_target_index_lbfgs(trained, work):
    r = trained["npy"]
    assert r.returncode == 0, r
    assert "task: classification (inferred: target column 0 holds 3 distinct integers" in r.out
    assert "training accuracy: " in r.out and "(90 rows)" in r.out
    est = load(work / "cls.fbp")
    assert est.solver == "lbfgs" and list(est.classes_) == [0, 1, 2]
    assert not read_metadata(work / "cls.fbp")["user"]["scaled"]


def test_train_task_override(trained):
    r = trained["regression_task"]
    assert r.returncode == 0, r
    assert "task: regression (chosen with --task regression)" in r.out
    assert "held-out R^2" in r.out


# -- predict and info ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def used(work, trained):
    for key in ("csv", "npz", "npy"):
        assert trained[key].returncode == 0, trained[key]
    commands = {
        "proba": ["predict", "animals.fbp", "animals.csv", "--proba", "-o", "pred.csv"],
        "reordered": ["predict", "animals.fbp", "new.csv"],
        "npz": ["predict", "reg.fbp", "reg.npz"],
        "npy": ["predict", "cls.fbp", "cls.npy"],
        "info": ["info", "animals.fbp"],
        "info_reg": ["info", "reg.fbp"],
    }
    return dict(zip(commands, run_many(list(commands.values()), cwd=work)))


def _read_csv_text(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_predict_csv_with_proba_to_file(used, work):
    r = used["proba"]
    assert r.returncode == 0, r
    assert r.out == "" and "wrote 120 predictions to pred.csv" in r.err
    header, rows = _read_csv_text((work / "pred.csv").read_text())
    assert header == ["kind", "proba_ant", "proba_bee", "proba_cow"]
    est = load(work / "animals.fbp")
    X, _ = _animals()
    assert [row[0] for row in rows] == list(est.predict(X))
    proba = np.array([[float(v) for v in row[1:]] for row in rows])
    assert np.array_equal(proba, est.predict_proba(X))  # exact text round trip


def test_predict_takes_feature_columns_by_name(used, work):
    r = used["reordered"]
    assert r.returncode == 0, r
    header, rows = _read_csv_text(r.out)
    assert header == ["kind"] and len(rows) == 30
    Xn, _ = _animals(30, seed=1)
    assert [row[0] for row in rows] == list(load(work / "animals.fbp").predict(Xn))


def test_predict_npz_and_npy(used, work):
    r = used["npz"]
    assert r.returncode == 0, r
    header, rows = _read_csv_text(r.out)
    assert header == ["y"]
    with np.load(work / "reg.npz") as npz:
        X = npz["X"]
    expected = load(work / "reg.fbp").predict(X.astype(np.float32))
    assert np.array_equal(np.array([r[0] for r in rows], dtype=np.float32), expected)
    r = used["npy"]
    assert r.returncode == 0, r
    header, rows = _read_csv_text(r.out)
    a = np.load(work / "cls.npy")
    assert header == ["prediction"]
    assert [int(row[0]) for row in rows] == list(load(work / "cls.fbp").predict(a[:, 1:]))


def test_info_describes_the_model(used):
    r = used["info"]
    assert r.returncode == 0, r
    fields = dict(line.split(":", 1) for line in r.out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["type"] == "MLPClassifier"
    assert fields["layer sizes"].startswith("3 -> 8 -> 4 -> 3")
    assert fields["activation"] == "tanh (output: softmax)"
    assert fields["solver"] == "adam"
    assert fields["classes"] == "3 (multiclass): ant, bee, cow"
    assert int(fields["n_iter_"]) >= 1 and float(fields["final loss"]) > 0
    assert fields["dtype"] == "float64"
    assert "fastbp-model version 1" in fields["format"]
    assert fields["target"] == "kind"
    assert fields["features"] == "leg length, weight, speed"
    r = used["info_reg"]
    assert r.returncode == 0 and "MLPRegressor" in r.out and "float32" in r.out


# -- errors -------------------------------------------------------------------------------
ERRORS = {
    # name: (argv, exit status, text in the one-line message)
    "missing_data": (["train", "nope.csv"], 1, "data file not found: nope.csv"),
    "bad_column": (["train", "animals.csv", "--target", "size"], 1,
                   "no column named 'size'"),
    "non_numeric": (["train", "bad.csv"], 1, "column 'b' is not numeric (line 3: 'oops')"),
    "corrupt_model": (["predict", "corrupt.fbp", "animals.csv"], 1,
                      "corrupt.fbp is not a readable fastbp model file"),
    "bad_epochs": (["train", "animals.csv", "--epochs", "zero"], 2,
                   "argument --epochs: expected a positive integer"),
    "proba_regressor": (["predict", "reg.fbp", "reg.npz", "--proba"], 2,
                        "--proba needs a classifier"),
}
# The same checks in this process (each subprocess costs a second or two).
MORE_ERRORS = {
    "not_a_model": (["info", "animals.csv"], 1, "not a fastbp model file"),
    "missing_model": (["info", "nope.fbp"], 1, "model file not found: nope.fbp"),
    "wrong_columns": (["predict", "animals.fbp", "bad.csv"], 1,
                      "missing the model's feature columns: leg length, weight, speed"),
    "npz_key": (["train", "reg.npz", "--target", "z"], 1, "no array 'z'"),
    "npy_index": (["train", "cls.npy", "--target", "9"], 1, "out of range"),
    "no_directory": (["train", "animals.csv", "--out", "nodir/m.fbp"], 1,
                     "no such directory"),
    "lbfgs_plot": (["train", "animals.csv", "--solver", "lbfgs", "--plot", "c.png"],
                   2, "--plot needs a stochastic solver"),
    "bad_hidden": (["train", "animals.csv", "--hidden", "8,-1"], 2, "argument --hidden"),
    "quiet_and_progress": (["train", "animals.csv", "-q", "--progress"], 2,
                           "not allowed with argument"),
    "unknown_command": (["fly"], 2, "invalid choice: 'fly'"),
    "no_data_argument": (["predict", "animals.fbp"], 2, "required: data"),
}


@pytest.fixture(scope="module")
def errors(work, used):
    names = list(ERRORS)
    return dict(zip(names, run_many([ERRORS[n][0] for n in names], cwd=work)))


def _check_error(status, text, returncode, out, err):
    assert returncode == status
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "error: " in lines[0] and text in lines[0]
    assert "Traceback" not in err
    if status == 1:
        assert lines[0].startswith("fastbp: error: ")


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_are_one_line_with_exit_status(errors, name):
    _, status, text = ERRORS[name]
    r = errors[name]
    try:
        _check_error(status, text, r.returncode, r.out, r.err)
    except AssertionError:
        pytest.fail(repr(r))


@pytest.mark.parametrize("name", list(MORE_ERRORS))
def test_more_errors_in_process(used, work, name, capsys, monkeypatch):
    from fastbp._cli import main

    monkeypatch.chdir(work)
    argv, status, text = MORE_ERRORS[name]
    code = main(argv)
    out, err = capsys.readouterr()
    _check_error(status, text, code, out, err)


# -- in process: details without a subprocess each ------------------------------------------
def test_main_returns_status_codes(capsys, work):
    from fastbp._cli import main

    assert main(["--version"]) == 0
    assert fastbp.__version__ in capsys.readouterr().out
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_bench_module_missing_or_present(monkeypatch, capsys):
    import types

    from fastbp import _cli

    monkeypatch.delattr(fastbp, "_bench", raising=False)
    monkeypatch.setitem(sys.modules, "fastbp._bench", None)
    assert _cli.main(["bench", "--quick"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastbp: error: the benchmark module (fastbp._bench)")
    seen = []
    fake = types.ModuleType("fastbp._bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "fastbp._bench", fake)
    monkeypatch.setattr(fastbp, "_bench", fake, raising=False)
    assert _cli.main(["bench", "--rows", "10", "--help"]) == 0
    assert seen == [["--rows", "10", "--help"]]


def test_task_inference():
    from fastbp._cli import _infer_task

    assert _infer_task(np.array(["a", "b"]), "auto", "t")[0] == "classification"
    assert _infer_task(np.array([0.0, 1.0, 2.0, 1.0]), "auto", "t")[0] == "classification"
    assert _infer_task(np.array([0.5, 1.0, 2.0]), "auto", "t")[0] == "regression"
    assert _infer_task(np.arange(100.0), "auto", "t")[0] == "regression"
    assert _infer_task(np.arange(100.0), "classification", "t")[0] == "classification"
    assert _infer_task(np.array([[0, 1], [1, 1]]), "auto", "t")[0] == "classification"
    assert _infer_task(np.array([[0, 2], [1, 1]]), "auto", "t")[0] == "regression"
    from fastbp._cli import CLIError

    with pytest.raises(CLIError, match="not numeric"):
        _infer_task(np.array(["a", "b"]), "regression", "t")


def test_scaling_fold_is_exact_enough():
    from fastbp._cli import _fold_scaling, _scale_of

    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3)) * [1, 100, 0.01] + [5, -300, 0]
    X[:, 2] = 7.0  # a constant column
    y = X[:, 0] * 3 + 1000
    m, s = _scale_of(X)
    ym, ys = _scale_of(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = fastbp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5,
                                  random_state=0).fit((X - m) / s, (y - ym) / ys)
    expected = est.predict((X - m) / s) * ys + ym
    _fold_scaling(est, m, s, ym, ys)
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-10, atol=1e-9)


def test_hidden_sizes_reject_an_empty_width():
    import argparse
    from fastbp._cli import _hidden_sizes

    assert _hidden_sizes("64,32") == (64, 32)
    assert _hidden_sizes("64x32") == (64, 32)
    assert _hidden_sizes("8,") == (8,)          # trailing comma, as in Python
    for bad in ("64,,32", ",8", "8,0", "a,b", "64x", "x64"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive integers"):
            _hidden_sizes(bad)


def test_predict_to_a_missing_folder_names_the_output(used, work):
    r = run("predict", "animals.fbp", "animals.csv", "-o", "nodir/pred.csv", cwd=work)
    assert r.returncode == 1
    assert "-o nodir/pred.csv: no such directory" in r.err
    assert not (work / "nodir").exists()
    (work / "outdir").mkdir()
    r = run("predict", "animals.fbp", "animals.csv", "-o", "outdir", cwd=work)
    assert r.returncode == 1 and "-o outdir: is a directory" in r.err


# -- hostile and unlucky use --------------------------------------------------------------------
def test_output_that_is_an_input_is_refused(used, work, capsys, monkeypatch):
    from fastbp._cli import main

    monkeypatch.chdir(work)
    model, data = (work / "animals.fbp").read_bytes(), (work / "animals.csv").read_bytes()
    for argv, text in [
            (["predict", "animals.fbp", "animals.csv", "-o", "animals.fbp"],
             "-o animals.fbp is the model file"),
            (["predict", "animals.fbp", "animals.csv", "-o", "./animals.csv"],
             "-o ./animals.csv is the data file"),
            (["train", "animals.csv", "--target", "kind", "--out", "animals.csv"],
             "--out animals.csv is the training data"),
            (["train", "animals.csv", "--target", "kind", "--plot", "animals.csv"],
             "--plot animals.csv is the training data")]:
        code = main(argv)
        out, err = capsys.readouterr()
        _check_error(2, text, code, out, err)
    assert (work / "animals.fbp").read_bytes() == model
    assert (work / "animals.csv").read_bytes() == data


def test_file_names_that_are_not_utf8(used, work, tmp_path):
    """A byte that is not UTF-8 in a file name failed the whole run with a
    codec error when stdout is strict UTF-8."""
    name = os.fsdecode(b"caf\xe9")
    (tmp_path / f"{name}.csv").write_bytes((work / "animals.csv").read_bytes())
    env = dict(_env(), PYTHONIOENCODING="utf-8")  # strict, as in a UTF-8 locale
    outs = []
    for args in (["train", f"{name}.csv", "--target", "kind", "--epochs", "3",
                  "--out", f"{name}.fbp"],
                 ["info", f"{name}.fbp"],
                 ["predict", f"{name}.fbp", f"{name}.csv", "-o", f"{name}.out"]):
        proc = subprocess.run([sys.executable, "-m", "fastbp", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120,
                              errors="backslashreplace")
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout + proc.stderr)
    assert "caf\\udce9.fbp" in outs[0] and "caf\\udce9.csv" in outs[1]
    assert (tmp_path / f"{name}.out").exists()


def test_npz_holding_a_pickled_sparse_matrix_is_one_line(tmp_path, capsys, monkeypatch):
    import scipy.sparse as sp

    from fastbp._cli import main

    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "zeros.npz", X=sp.csr_matrix((5, 3)), y=np.zeros(5))
    code = main(["train", "zeros.npz"])
    out, err = capsys.readouterr()
    _check_error(1, "holds Python objects", code, out, err)
    assert "allow_pickle" not in err


def test_csv_with_missing_values_fails_early_in_bounded_memory(tmp_path, capsys,
                                                                monkeypatch):
    """A large CSV whose cells are mostly empty: the first missing value
    stops the reading (it read the whole file into lists of strings first)."""
    import tracemalloc

    from fastbp._cli import main

    monkeypatch.chdir(tmp_path)
    n_cols = 60
    with open(tmp_path / "sparse.csv", "w") as f:
        f.write(",".join(f"c{i}" for i in range(n_cols)) + "\n")
        f.write(",".join(["1"] * n_cols) + "\n")
        row = "1" + "," * (n_cols - 2) + ",0\n"
        f.write(row * 200_000)  # 12 MB
    tracemalloc.start()
    try:
        code = main(["train", "sparse.csv"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out, err = capsys.readouterr()
    _check_error(1, "column 'c1' has a missing value (line 3)", code, out, err)
    assert peak < 12_000_000, peak


def test_info_on_a_large_non_model_file_reads_little(tmp_path, capsys, monkeypatch):
    import tracemalloc

    from fastbp._cli import main

    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "big.fbp", "wb") as f:
        f.truncate(300 << 20)  # sparse: no disk used
    tracemalloc.start()
    try:
        code = main(["info", "big.fbp"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out, err = capsys.readouterr()
    _check_error(1, "not a fastbp model file", code, out, err)
    assert peak < 5_000_000, peak


def test_train_out_dash_writes_the_model_to_stdout(work, tmp_path):
    """--out - : the model file's bytes on stdout, the messages on stderr,
    no file named '-'; onto a terminal it is refused before training."""
    import pty

    cwd = tmp_path
    (cwd / "animals.csv").write_bytes((work / "animals.csv").read_bytes())
    args = [sys.executable, "-m", "fastbp", "train", "animals.csv", "--target", "kind",
            "--hidden", "4", "--epochs", "3", "--random-state", "0", "--out", "-"]
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert not (cwd / "-").exists()
    err = proc.stderr.decode()
    assert "saved model to standard output" in err and "accuracy" in err
    model = load(io.BytesIO(proc.stdout))
    assert model.classes_.tolist() == ["ant", "bee", "cow"]
    assert read_metadata(io.BytesIO(proc.stdout))["user"]["target"] == "kind"

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(args, cwd=cwd, env=_env(), stdout=slave,
                              stderr=subprocess.PIPE, timeout=240)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2
    assert "--out -: standard output is a terminal" in proc.stderr.decode()
    assert not (cwd / "-").exists()
