"""The typed values the compiled core takes (Layout, Input): what they hold,
and a clear error for what they refuse."""
import numpy as np
import pytest
import scipy.sparse as sp

from fastbp import Network
from fastbp._core import _backprop, _kernels, _optim
from fastbp._core._input import Input
from fastbp._core._layout import Layout
from fastbp._network import prepare_input

RELU, IDENTITY = _kernels.ACTIVATIONS["relu"], _kernels.OUTPUTS["identity"]


def test_layout_holds_the_widths_and_counts_the_parameters():
    lay = Layout([3, 5, 2], RELU, IDENTITY)
    assert lay.sizes.dtype == np.intp and lay.sizes.tolist() == [3, 5, 2]
    assert not lay.sizes.flags.writeable
    assert (lay.hidden, lay.out) == (RELU, IDENTITY)
    assert lay.n_coef == 3 * 5 + 5 * 2
    assert lay.n_params == lay.n_coef + 5 + 2
    net = Network((3, 5, 2), activation="relu")
    assert net._layout.n_params == net.n_params


@pytest.mark.parametrize("sizes, match", [
    ([4], "at least an input and an output layer"),
    ([4, 0, 2], "layer widths must be >= 1"),
])
def test_layout_refuses_bad_widths(sizes, match):
    with pytest.raises(ValueError, match=match):
        Layout(sizes, RELU, IDENTITY)


def test_layout_checks_a_parameter_vector():
    lay = Layout([3, 5, 2], RELU, IDENTITY)
    p = np.zeros(lay.n_params)
    assert lay.params_array(p, True) is p
    with pytest.raises(ValueError, match="float32 or float64"):
        lay.params_array(np.zeros(lay.n_params, dtype=np.int64))
    with pytest.raises(ValueError, match="wrong length"):
        lay.params_array(np.zeros(lay.n_params + 1))
    with pytest.raises(ValueError, match="contiguous 1-D"):
        lay.params_array(np.zeros(2 * lay.n_params)[::2])
    ro = np.zeros(lay.n_params)
    ro.flags.writeable = False
    lay.params_array(ro)
    with pytest.raises(ValueError, match="writeable contiguous"):
        lay.params_array(ro, True)


def test_input_holds_dense_rows_or_csr_arrays():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    d = Input.dense(X)
    assert not d.sparse and d.X is X and (d.n_samples, d.n_features) == (4, 3)
    assert d.dtype == np.float32 and d.indptr.shape == (0,)
    Xs = sp.csr_matrix(X)
    s = prepare_input(Xs, np.float32)
    assert s.sparse and (s.n_samples, s.n_features) == (4, 3)
    assert s.X.shape == (0, 3)
    np.testing.assert_array_equal(s.indptr, Xs.indptr)


@pytest.mark.parametrize("make, match", [
    (lambda: Input.dense(np.zeros(3)), "X must be a C-contiguous 2-D array"),
    (lambda: Input.dense(np.zeros((3, 2), dtype=np.int32)), "float32 or float64"),
    (lambda: Input.dense(np.zeros((3, 4))[:, ::2]), "C-contiguous"),
    (lambda: Input.csr(np.zeros(2), np.zeros(3, dtype=np.intp),
                       np.array([0, 3]), 4), "CSR data and indices differ"),
    (lambda: Input.csr(np.zeros(2), np.zeros(2, dtype=np.int32),
                       np.array([0, 2]), 4), "indices must be"),
    (lambda: Input.csr(np.zeros(0), np.zeros(0, dtype=np.intp),
                       np.zeros(0, dtype=np.intp), 4), "indptr needs"),
])
def test_input_refuses_what_the_passes_cannot_read(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _trainer(net, sparse=False):
    tr = _backprop.Trainer(net.params, net._layout, batch_size=4, sparse=sparse)
    tr.set_optimizer(_optim.OPTIMIZERS["sgd"], 0.1)
    return tr


def test_trainer_names_an_input_of_the_wrong_dtype_kind_or_width():
    net = Network((3, 4, 2), activation="relu")     # float64
    Y = np.zeros((5, 2))
    perm = np.arange(5, dtype=np.intp)
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="X is float32, the parameters float64"):
        _trainer(net).epoch(Input.dense(X.astype(np.float32)), Y, np.empty(0),
                            perm, 0.0)
    with pytest.raises(ValueError, match="made for dense input"):
        _trainer(net).epoch(prepare_input(sp.csr_matrix(X), np.float64), Y,
                            np.empty(0), perm, 0.0)
    with pytest.raises(ValueError, match="X has 2 columns, the network takes 3"):
        _trainer(net).epoch(Input.dense(np.ones((5, 2))), Y, np.empty(0), perm, 0.0)
    with pytest.raises(TypeError):
        _trainer(net).epoch(X, Y, np.empty(0), perm, 0.0)      # not an Input
    before = net.params.copy()
    _trainer(net).epoch(Input.dense(X), Y, np.empty(0), perm, 0.0)
    assert not np.array_equal(net.params, before)           # the right one trains
