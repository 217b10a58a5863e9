"""Safe model files (fastbp._io): exact round trips, and clear refusals of
every damaged, foreign or unsafe file."""
import copy
import io
import json
import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastbp
from fastbp._io import FORMAT_VERSION, load, read_metadata, save


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=60, d=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)), rng


def _fit(kind, dtype=np.float64, **params):
    X, rng = _data()
    X = X.astype(dtype)
    n = X.shape[0]
    base = dict(hidden_layer_sizes=(6, 5), max_iter=4, random_state=0)
    base.update(params)
    if kind == "multiclass_str":
        y = np.array(["cat", "dog", "emu"])[rng.randint(0, 3, n)]
        return fastbp.MLPClassifier(**base).fit(X, y), X
    if kind == "binary":
        return fastbp.MLPClassifier(**base).fit(X, rng.randint(0, 2, n)), X
    if kind == "binary_str_object":
        y = np.array(["no", "yes"], dtype=object)[rng.randint(0, 2, n)]
        return fastbp.MLPClassifier(**base).fit(X, y), X
    if kind == "multilabel":
        y = rng.randint(0, 2, (n, 3))
        return fastbp.MLPClassifier(**base).fit(X, y), X
    if kind == "regressor_multi":
        return fastbp.MLPRegressor(**base).fit(X, rng.normal(size=(n, 2))), X
    if kind == "poisson":
        return fastbp.MLPRegressor(loss="poisson", **base).fit(
            X, rng.poisson(2.0, n)), X
    raise ValueError(kind)


def _roundtrip(est, tmp_path, name="model.fbp"):
    path = tmp_path / name
    save(est, path)
    return load(path)


def _assert_same_model(a, b, X):
    assert type(a) is type(b)
    assert a.get_params() == b.get_params()
    pa, pb = a.predict(X), b.predict(X)
    assert pa.dtype == pb.dtype and pa.shape == pb.shape
    assert np.array_equal(pa, pb)
    if hasattr(a, "predict_proba"):
        qa, qb = a.predict_proba(X), b.predict_proba(X)
        assert qa.dtype == qb.dtype
        assert np.array_equal(qa, qb)  # bitwise
        assert np.asarray(a.classes_).dtype == np.asarray(b.classes_).dtype
        assert np.array_equal(a.classes_, b.classes_)
        assert a._label_binarizer.y_type_ == b._label_binarizer.y_type_
    for Wa, Wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert Wa.dtype == Wb.dtype
        assert np.array_equal(Wa, Wb)
    for attr in ("n_iter_", "t_", "loss_", "best_loss_", "n_layers_", "n_outputs_",
                 "out_activation_", "n_features_in_", "loss_curve_",
                 "validation_scores_", "validation_loss_curve_",
                 "best_validation_score_"):
        assert hasattr(a, attr) == hasattr(b, attr), attr
        if hasattr(a, attr):
            assert getattr(a, attr) == getattr(b, attr), attr


# -- exact round trips ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["multiclass_str", "binary", "binary_str_object",
                                  "multilabel", "regressor_multi", "poisson"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_roundtrip_predicts_bitwise_the_same(kind, dtype, tmp_path):
    est, X = _fit(kind, dtype)
    loaded = _roundtrip(est, tmp_path)
    _assert_same_model(est, loaded, X)
    assert loaded.coefs_[0].dtype == dtype
    # Many rows: the multithreaded prediction path too.
    X_big = np.tile(X, (20, 1))
    assert np.array_equal(est.predict(X_big), loaded.predict(X_big))


def test_roundtrip_keeps_object_string_labels(tmp_path):
    est, X = _fit("binary_str_object")
    # fit stores unicode labels; object arrays of str come from assignment.
    est.classes_ = est._label_binarizer.classes_ = est.classes_.astype(object)
    loaded = _roundtrip(est, tmp_path)
    assert loaded.classes_.dtype == object
    assert loaded.predict(X).dtype == object
    assert list(loaded.classes_) == ["no", "yes"]


@pytest.mark.parametrize("params", [
    dict(solver="lbfgs"),
    dict(early_stopping=True, max_iter=8),
    dict(activation="gelu", solver="sgd", learning_rate="invscaling"),
    dict(class_weight={"cat": 2.0, "dog": 0.5}, n_iter_no_change=np.inf),
    dict(class_weight="balanced", hidden_layer_sizes=7, n_threads=1),
])
def test_roundtrip_keeps_params_and_curves(params, tmp_path):
    est, X = _fit("multiclass_str", **params)
    loaded = _roundtrip(est, tmp_path)
    _assert_same_model(est, loaded, X)


def test_roundtrip_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, rng = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = fastbp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=3,
                              random_state=0).fit(df, rng.normal(size=len(df)))
    loaded = _roundtrip(est, tmp_path)
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    assert loaded.feature_names_in_.dtype == object
    assert np.array_equal(loaded.predict(df), est.predict(df))


def test_loaded_model_can_keep_training(tmp_path):
    est, X = _fit("multiclass_str")
    loaded = _roundtrip(est, tmp_path)
    y = np.array(["cat", "dog", "emu"])[np.arange(len(X)) % 3]
    loaded.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert loaded.n_iter_ == 2
    loaded.partial_fit(X, y)
    est2, X = _fit("regressor_multi", early_stopping=True, max_iter=6)
    loaded2 = _roundtrip(est2, tmp_path, "r.fbp")
    loaded2.set_params(warm_start=True, max_iter=2).fit(X, est2.predict(X))


def test_save_accepts_file_objects_and_adds_no_suffix(tmp_path):
    est, X = _fit("binary")
    buf = io.BytesIO()
    save(est, buf)
    buf.seek(0)
    assert np.array_equal(load(buf).predict_proba(X), est.predict_proba(X))
    save(est, str(tmp_path / "model.fbp"))
    assert sorted(os.listdir(tmp_path)) == ["model.fbp"]  # no temp file left
    save(est, tmp_path / "model.fbp")  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["model.fbp"]


def test_metadata_header(tmp_path):
    est, _ = _fit("multiclass_str")
    path = tmp_path / "m.fbp"
    save(est, path, metadata={"target": "animal", "features": ["a", "b"]})
    meta = read_metadata(path)
    assert meta["format"] == "fastbp-model"
    assert meta["format_version"] == FORMAT_VERSION == 1
    assert meta["estimator"] == "MLPClassifier"
    assert meta["params"]["hidden_layer_sizes"] == [6, 5]
    assert meta["attributes"]["n_iter_"] == est.n_iter_
    assert meta["label_binarizer"]["y_type_"] == "multiclass"
    assert meta["user"] == {"target": "animal", "features": ["a", "b"]}
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, no pickles
        assert npz["classes_"].dtype.kind == "U"
        assert all(npz[k].dtype != object for k in npz.files)


def test_unstorable_params_become_none(tmp_path):
    est, X = _fit("binary")
    est.set_params(random_state=np.random.RandomState(3),
                   scoring=lambda e, X, y: 0.0)
    with pytest.warns(UserWarning, match="scoring"):
        loaded = _roundtrip(est, tmp_path)
    assert loaded.random_state is None and loaded.scoring is None
    assert np.array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_save_refuses_unfitted_and_foreign_estimators(tmp_path):
    with pytest.raises(NotFittedError):
        save(fastbp.MLPClassifier(), tmp_path / "m.fbp")
    from sklearn.neural_network import MLPClassifier

    with pytest.raises(TypeError, match="fastbp"):
        save(MLPClassifier(), tmp_path / "m.fbp")
    with pytest.raises(ValueError, match="JSON"):
        save(_fit("binary")[0], tmp_path / "m.fbp", metadata={"x": object()})
    assert not os.listdir(tmp_path)


# -- pickle, deepcopy, clone -----------------------------------------------------
@pytest.mark.parametrize("kind", ["multiclass_str", "multilabel", "regressor_multi"])
def test_pickle_deepcopy_clone(kind):
    est, X = _fit(kind)
    for other in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        _assert_same_model(est, other, X)
    fresh = clone(est)
    assert not hasattr(fresh, "coefs_")
    assert fresh.get_params() == est.get_params()


# -- damaged and foreign files ---------------------------------------------------
def _arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _meta_array(meta):
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.fixture
def saved(tmp_path):
    est, X = _fit("multiclass_str")
    path = tmp_path / "model.fbp"
    save(est, path)
    return est, X, path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.fbp")


@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"PK", b"\x93NUMPY"])
def test_not_an_archive(content, tmp_path):
    path = tmp_path / "m.fbp"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a .*fastbp model file"):
        load(path)


def test_plain_npy_file_is_refused(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="not a fastbp model file"):
        load(path)


def test_truncated_file(saved, tmp_path):
    _, _, path = saved
    data = path.read_bytes()
    for cut in (2, 30, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        bad = tmp_path / f"cut{cut}.fbp"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="fastbp model file|damaged"):
            load(bad)


def test_flipped_bytes_never_load_a_wrong_model(saved):
    est, X, path = saved
    data = path.read_bytes()
    proba, pred = est.predict_proba(X), est.predict(X)
    refused = 0
    for pos in range(0, len(data), 5):
        for bit in (0x01, 0x80):
            bad = bytearray(data)
            bad[pos] ^= bit
            try:
                other = load(io.BytesIO(bytes(bad)))
            except ValueError:
                refused += 1
                continue
            # A flip in a field the zip reader ignores (a timestamp, ...).
            assert np.array_equal(other.predict_proba(X), proba)
            assert np.array_equal(other.predict(X), pred)
    assert refused > 0


def test_corrupted_weights_are_detected_by_crc(saved, tmp_path):
    _, _, path = saved
    data = bytearray(path.read_bytes())
    start = data.index(b"coef_0.npy") + len("coef_0.npy") + 200
    data[start] ^= 0x10
    bad = tmp_path / "bad.fbp"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        load(bad)


def test_foreign_npz(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastbp model file"):
        load(path)


def _rewrite(path, tmp_path, change):
    arrays = _arrays(path)
    meta = json.loads(arrays["__fastbp__"].tobytes())
    header = arrays["__fastbp__"]
    change(arrays, meta)
    if arrays.get("__fastbp__") is header:
        arrays["__fastbp__"] = _meta_array(meta)
    out = tmp_path / "changed.fbp"
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


@pytest.mark.parametrize("change, match", [
    (lambda a, m: m.update(format_version=2), "version 2, newer"),
    (lambda a, m: m.update(format_version="1"), "format_version"),
    (lambda a, m: m.update(format="other-model"), "not a fastbp model file"),
    (lambda a, m: m.update(estimator="os.system"), "unknown estimator"),
    (lambda a, m: m["params"].update(activation="swish"), "invalid parameters"),
    (lambda a, m: m["params"].update(no_such_param=1), "invalid parameters"),
    (lambda a, m: m.update(dtype="float16"), "dtype"),
    (lambda a, m: a.pop("intercept_1"), "'intercept_1' is missing"),
    (lambda a, m: a.update(coef_1=np.zeros((6, 3))), "inconsistent shapes"),
    (lambda a, m: a.update(coef_0=a["coef_0"].astype(np.float32)), "not float64"),
    (lambda a, m: a["coef_0"].__setitem__((0, 0), np.nan), "non-finite"),
    (lambda a, m: a.update(classes_=np.array(["a", "b"])), "classes"),
    (lambda a, m: m["label_binarizer"].update(y_type_="continuous"),
     "label binarizer"),
    (lambda a, m: m["attributes"].update(n_features_in_=7), "match the layer"),
    (lambda a, m: m["attributes"].update(out_activation_="relu"), "out_activation_"),
    (lambda a, m: a.pop("__fastbp__"), "not a fastbp model file"),
    (lambda a, m: a.update(__fastbp__=np.frombuffer(b"{not json", np.uint8)),
     "header is damaged"),
])
def test_inconsistent_file_is_refused(saved, tmp_path, change, match):
    _, _, path = saved
    with pytest.raises(ValueError, match=match):
        load(_rewrite(path, tmp_path, change))


class _Boom:
    """Unpickling this would record that code ran."""

    ran = []

    def __reduce__(self):
        return (_Boom.ran.append, ("code ran",))


def test_load_never_unpickles(saved, tmp_path):
    _, _, path = saved

    def add_objects(arrays, meta):
        arrays["classes_"] = np.array([_Boom(), _Boom(), _Boom()], dtype=object)

    bad = _rewrite(path, tmp_path, add_objects)
    with pytest.raises(ValueError, match="Python objects"):
        load(bad)
    assert _Boom.ran == []


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from fastbp._io import atomic_write

    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target, "w") as f:
            f.write("half of the new ")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp left
    with atomic_write(target, "w") as f:
        f.write("new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_write_names_a_missing_directory(tmp_path):
    from fastbp._io import atomic_write

    with pytest.raises(FileNotFoundError) as info:
        with atomic_write(tmp_path / "nodir" / "out.csv"):
            pass
    assert info.value.filename == str(tmp_path / "nodir")


# -- hostile files -----------------------------------------------------------------------
def _npy_bytes(a=None, header=None):
    """The bytes of a .npy file of array `a`, or a bare header dict."""
    buf = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buf, a, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _zip(path, members, compression=None):
    """Write members (name -> bytes, or a list of pairs) as an npz archive."""
    import zipfile

    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: duplicate name
        with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as zf:
            for name, data in items:
                zf.writestr(name, data)
    return path


def _members(path):
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


@pytest.mark.parametrize("field, value", [
    ("neg_label", float("inf")), ("pos_label", float("-inf")), ("neg_label", -1),
    ("pos_label", 2), ("neg_label", 0.5), ("pos_label", True), ("neg_label", "0")])
def test_label_binarizer_labels_are_validated(saved, tmp_path, field, value):
    # Infinity gave OverflowError; other values turned every prediction
    # into one class
    def change(arrays, meta):
        meta["label_binarizer"][field] = value

    with pytest.raises(ValueError, match="invalid label binarizer labels"):
        load(_rewrite(saved[2], tmp_path, change))


def test_deeply_nested_header_is_a_value_error(saved, tmp_path):
    deep = np.frombuffer(b"[" * 200_000 + b"]" * 200_000, dtype=np.uint8)

    def change(arrays, meta):
        arrays["__fastbp__"] = deep

    with pytest.raises(ValueError, match="header is damaged"):
        load(_rewrite(saved[2], tmp_path, change))


@pytest.mark.parametrize("descr, shape", [("<U0", (10**12,)), ("<f8", (10**12,)),
                                          ("<U1", (10**11,))])
def test_small_file_declaring_a_huge_array_is_refused(saved, tmp_path, descr, shape):
    # a 3 KB file declaring a (10^12,) <U0 classes_ gave MemoryError
    members = [(n, _npy_bytes(header={"descr": descr, "fortran_order": False,
                                      "shape": shape}) if n == "classes_.npy" else d)
               for n, d in _members(saved[2])]
    bad = _zip(tmp_path / "huge.fbp", members)
    assert bad.stat().st_size < 10_000
    with pytest.raises(ValueError, match="classes_"):
        load(bad)


def test_duplicated_member_is_refused(saved, tmp_path):
    members = _members(saved[2])
    coef = dict(members)["coef_0.npy"]
    other = _npy_bytes(np.load(io.BytesIO(coef)) * 2)
    bad = _zip(tmp_path / "dup.fbp", members + [("coef_0.npy", other)])
    with pytest.raises(ValueError, match="'coef_0.npy' more than once"):
        load(bad)


@pytest.mark.parametrize("header", ["as saved", "without n_features_in_"])
def test_deflated_zeros_are_refused_before_decompressing(saved, tmp_path, header):
    """400 MB of zeros deflate about 1000:1: the member's declared size is
    checked against the layer sizes in the header before it is read (or,
    where an edited header leaves a width out, its compression ratio)."""
    import tracemalloc
    import zipfile

    members = _members(saved[2])
    if header != "as saved":
        meta = json.loads(np.load(io.BytesIO(dict(members)["__fastbp__.npy"])).tobytes())
        del meta["attributes"]["n_features_in_"]
        members = [(n, _npy_bytes(_meta_array(meta)) if n == "__fastbp__.npy" else d)
                   for n, d in members]
    bad = tmp_path / "bomb.fbp"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            if name != "coef_0.npy":
                zf.writestr(name, data)
        with zf.open("coef_0.npy", "w", force_zip64=True) as m:
            m.write(_npy_bytes(header={"descr": "<f8", "fortran_order": False,
                                       "shape": (50_000, 1_000)}))
            zeros = bytes(1 << 20)
            for _ in range(400):
                m.write(zeros)
    assert bad.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="'coef_0' claims 419430528 bytes, "
                           "more than the model header allows"):
            load(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_large_non_model_file_is_refused_before_reading_it(tmp_path):
    import tracemalloc

    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(300 << 20)  # sparse: no disk used
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not an .npz archive"):
            load(big)
        with pytest.raises(ValueError, match="not an .npz archive"):
            read_metadata(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_device_and_fifo_are_refused_without_reading(tmp_path):
    """/dev/zero was read forever; a FIFO without a writer blocked open()."""
    import subprocess
    import sys

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = ("import fastbp, sys\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        fastbp.load(p)\n"
            "    except ValueError as exc:\n"
            "        print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code, "/dev/zero", str(fifo)],
                         capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    assert out.stdout.count("not a regular file") == 2, out.stderr[-2000:]


@pytest.mark.parametrize("how", ["fifo", "link to fifo"])
def test_save_writes_into_a_fifo_instead_of_replacing_it(tmp_path, how):
    import stat
    import threading

    est, X = _fit("binary", hidden_layer_sizes=(3,))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = fifo
    if how == "link to fifo":
        target = tmp_path / "link"
        target.symlink_to(fifo)
    chunks = []
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def drain():
        import select
        while True:
            select.select([fd], [], [], 5)
            data = os.read(fd, 1 << 16)
            if not data:
                if chunks:
                    return
                continue
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        save(est, target)
        reader.join(30)
    finally:
        os.close(fd)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO
    if how == "link to fifo":
        assert target.is_symlink()
    other = load(io.BytesIO(b"".join(chunks)))
    assert np.array_equal(other.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600),
                                             (0o002, 0o664)])
def test_new_model_file_honours_the_umask(tmp_path, umask, expected):
    import stat

    est, _ = _fit("binary", hidden_layer_sizes=(3,))
    old = os.umask(umask)
    try:
        save(est, tmp_path / "m.fbp")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.fbp").st_mode) == expected


def test_replaced_model_file_keeps_its_mode_and_links(tmp_path):
    import stat

    est, _ = _fit("binary", hidden_layer_sizes=(3,))
    real = tmp_path / "real.fbp"
    save(est, real)
    os.chmod(real, 0o640)
    link = tmp_path / "link.fbp"
    link.symlink_to(real)
    save(est, link)
    assert link.is_symlink()  # the link stays, its target is replaced
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640
    load(link)


def test_save_writes_into_dev_null_and_a_terminal(tmp_path):
    """A character device keeps its position at 0, which zipfile's seeks
    back cannot use: the model is built apart and written in order. A
    pseudo-terminal in raw mode (a character device that can be read back)
    receives exactly the bytes of the model file."""
    import pty
    import stat
    import threading
    import tty

    est, X = _fit("binary", hidden_layer_sizes=(3,))
    buf = io.BytesIO()
    save(est, buf)
    expected = buf.getvalue()
    save(est, "/dev/null")
    with open("/dev/null", "wb") as f:
        save(est, f)

    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        assert stat.S_ISCHR(os.fstat(slave).st_mode)
        chunks = []

        def drain():
            got = 0
            while got < len(expected):
                data = os.read(master, 1 << 16)
                if not data:
                    return
                chunks.append(data)
                got += len(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        save(est, os.ttyname(slave))
        reader.join(60)
        assert not reader.is_alive()
    finally:
        os.close(slave)
        os.close(master)
    data = b"".join(chunks)
    assert data == expected
    other = load(io.BytesIO(data))
    assert np.array_equal(other.predict_proba(X), est.predict_proba(X))
