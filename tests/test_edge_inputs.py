"""Inputs at the edge of what the compiled code accepts (widths, indices,
byte order, zero weights, hand-set parameters, model-file headers) and warm
starts that switch strategy: each gives a clear error or just works."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor, Network

rng = np.random.RandomState(0)
X = rng.rand(50, 20)
y_reg = X[:, 0] - X[:, 1]
y_clf = (X[:, 0] > 0.5).astype(int)


def _quiet_fit(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kw)


def test_assigned_coefs_of_the_wrong_width_are_refused_for_dense_and_sparse():
    reg = _quiet_fit(MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0),
                     X, y_reg)
    reg.coefs_ = [reg.coefs_[0][:1].copy(), reg.coefs_[1]]
    for data in (X, sp.csr_matrix(X), sp.csc_matrix(X)):
        with pytest.raises(ValueError, match="coefs_ take 1 inputs to 1 outputs; this "
                                             "model has 20 features"):
            reg.predict(data)


def test_sparse_width_is_checked_in_the_compiled_call():
    net = Network((3, 4, 2), random_state=0)
    with pytest.raises(ValueError, match="X has 5 features, the network takes 3"):
        net.forward(sp.csr_matrix(np.ones((2, 5))))


@pytest.mark.parametrize("bad_index", [-1, -10**12, 3, 10**6])
def test_csr_with_column_indices_out_of_range_is_an_error(bad_index):
    X_bad = sp.csr_matrix((np.array([1.0]), np.array([bad_index]), np.array([0, 1])),
                          shape=(1, 3))
    net = Network((3, 4, 2), random_state=0)
    with pytest.raises(ValueError, match="column indices outside"):
        net.forward(X_bad)
    with pytest.raises(ValueError, match="column indices outside"):
        net.loss_gradient(X_bad, np.zeros((1, 2)))


def test_replacing_params_updates_every_path():
    net = Network((3, 4, 2), random_state=0)
    net.params = np.zeros_like(net.params)
    np.testing.assert_array_equal(net.forward(np.ones((2, 3))), 0)    # cached Predictor
    np.testing.assert_array_equal(net.forward(np.ones((100, 3))), 0)  # threaded path
    assert all((c == 0).all() for c in net.coefs)                     # views follow
    net.coefs[0][...] = 1.0
    assert net.params[:12].sum() == 12
    with pytest.raises(ValueError, match="must have 26 entries"):
        net.params = np.zeros(5)
    with pytest.raises(ValueError, match="contiguous 1-D float64"):
        net.params = np.zeros(26, dtype=np.float32)


def test_non_native_byte_order_is_refused_up_front():
    with pytest.raises(ValueError, match="native byte order"):
        Network((3, 2), dtype=">f8")


@pytest.mark.parametrize("first, second", [(True, False), (False, True)])
def test_warm_start_may_switch_early_stopping(first, second):
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, warm_start=True,
                        early_stopping=first, random_state=0)
    _quiet_fit(clf, X, y_clf)
    n_first = clf.n_iter_
    clf.set_params(early_stopping=second)
    _quiet_fit(clf, X, y_clf)
    assert len(clf.loss_curve_) == n_first + clf.n_iter_  # the curve goes on
    if second:
        assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) > 0
    else:
        assert clf.validation_scores_ is None and np.isfinite(clf.best_loss_)


def test_warm_start_from_lbfgs_to_adam():
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5,
                                   warm_start=True, random_state=0), X, y_clf)
    before = [c.copy() for c in clf.coefs_]
    clf.set_params(solver="adam")
    _quiet_fit(clf, X, y_clf)
    assert len(clf.loss_curve_) == clf.n_iter_
    assert any(not np.array_equal(a, b) for a, b in zip(before, clf.coefs_))


def _resave_with_header(tmp_path, edit):
    """Save a model, rewrite its JSON header with `edit`, return the path."""
    import json
    import zipfile

    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
                     X, y_clf)
    path = tmp_path / "m.fbp"
    clf.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(bytes(arrays["__fastbp__"]).decode())
    edit(header)
    arrays["__fastbp__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    assert zipfile.is_zipfile(path)
    return clf, path


@pytest.mark.parametrize("field, value", [("attributes", []), ("curves", []),
                                          ("attributes", "x")])
def test_header_fields_of_the_wrong_type_are_a_value_error(tmp_path, field, value):
    import fastbp

    _, path = _resave_with_header(tmp_path, lambda h: h.__setitem__(field, value))
    with pytest.raises(ValueError, match="m.fbp"):
        fastbp.load(path)


def test_header_without_n_features_in_still_predicts(tmp_path):
    import fastbp

    clf, path = _resave_with_header(
        tmp_path, lambda h: h["attributes"].pop("n_features_in_", None))
    loaded = fastbp.load(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_a_batch_of_zero_weights_is_skipped_not_a_crash():
    sw = np.ones(len(X))
    sw[:10] = 0  # the whole first mini-batch
    est = MLPRegressor(hidden_layer_sizes=(4,), batch_size=10, shuffle=False,
                       max_iter=3, random_state=0)
    _quiet_fit(est, X, y_reg, sample_weight=sw)
    assert np.isfinite(est.loss_curve_).all()
    ref = _quiet_fit(MLPRegressor(hidden_layer_sizes=(4,), batch_size=10, shuffle=False,
                                  max_iter=3, random_state=0), X[10:], y_reg[10:])
    # the zero-weight batch changes nothing: the same updates as without it
    for a, b in zip(est.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
