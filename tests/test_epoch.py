"""The compiled epoch loop (fastbp._core._backprop.Trainer.epoch) against a
sequential numpy reference built on Network.loss_gradient."""
import numpy as np
import pytest
import scipy.sparse as sp

from fastbp._core import _backprop, _optim
from fastbp._network import prepare_input
from fastbp._threads import blas_limited

from conftest import make_net, make_problem

OPT = _optim.OPTIMIZERS
HP = dict(lr=0.05, momentum=0.9, nesterov=True, beta1=0.9, beta2=0.99,
          eps=1e-8, weight_decay=0.1)


def run_epoch(net, X, Y, sw=None, *, alpha=0.0, batch_size=7, shuffle=False,
              seed=0, opt="sgd", n_threads=1, perm=None, state=None, t=0,
              min_work=0, min_update_params=32768, hp=None, split_layers=False,
              slots=None):
    """One epoch on `net` (in place) through a one-off Trainer over the
    given buffers. Returns (total_loss, t, perm, state).
    slots: rows of the gradient and workspace buffers (default n_threads)."""
    hp = dict(HP, **(hp or {}))
    dtype = net.dtype
    n = X.shape[0]
    Xin = prepare_input(X, dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    sw = np.empty(0, dtype) if sw is None else np.ascontiguousarray(sw, dtype=dtype)
    if perm is None:
        perm = np.arange(n, dtype=np.intp)
    if state is None:
        state = (np.zeros(net.n_params, dtype),
                 np.zeros(net.n_params if opt in ("adam", "adamw") else 0, dtype))
    if n == 0:
        raise ValueError("no samples")
    batch_size = min(batch_size, n)
    G, ws = net._workspace(batch_size, n_threads if slots is None else slots)
    with blas_limited(n_threads):
        # the tuner off: the parts run on n_threads threads
        tr = _backprop.Trainer(
            net.params, net._layout, batch_size=batch_size,
            n_threads=n_threads, sparse=Xin.sparse, split_layers=split_layers,
            min_work=min_work, min_update_params=min_update_params,
            adaptive=False, buffers=(G, ws))
        tr.set_optimizer(OPT[opt], hp["lr"], momentum=hp["momentum"],
                         nesterov=hp["nesterov"], beta1=hp["beta1"],
                         beta2=hp["beta2"], eps=hp["eps"],
                         weight_decay=hp["weight_decay"], s1=state[0],
                         s2=state[1], t=t)
        total = tr.epoch(Xin, Y, sw, perm, alpha, shuffle=shuffle, seed=seed)
        t = tr.t
    return total, t, perm, state


def reference_epoch(net, X, Y, sw=None, *, alpha=0.0, batch_size=7, perm=None,
                    opt="sgd", hp=None, t=0):
    """Sequential numpy reference: per mini-batch, Network.loss_gradient and
    the optimizer's formula. Returns (params, total_loss)."""
    hp = dict(HP, **(hp or {}))
    net = net.copy()
    n = X.shape[0]
    perm = np.arange(n) if perm is None else perm
    p = net.params
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    total = 0.0
    lr = hp["lr"]
    for start in range(0, n, batch_size):
        rows = perm[start:start + batch_size]
        m = rows.shape[0]
        w = None if sw is None else sw[rows]
        a = 0.0 if opt == "adamw" else alpha
        loss, cg, ig = net.loss_gradient(X[rows], Y[rows], w, a, n_threads=1)
        g = np.concatenate([x.ravel() for x in cg + ig])
        total += loss * m
        t += 1
        if opt == "sgd":
            mu = hp["momentum"]
            s1[:] = mu * s1 - lr * g
            p += (mu * s1 - lr * g) if hp["nesterov"] else s1
        elif opt == "rmsprop":
            s1[:] = hp["beta2"] * s1 + (1 - hp["beta2"]) * g * g
            p -= lr * g / (np.sqrt(s1) + hp["eps"])
        else:
            b1, b2 = hp["beta1"], hp["beta2"]
            s1[:] = b1 * s1 + (1 - b1) * g
            s2[:] = b2 * s2 + (1 - b2) * g * g
            lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            if opt == "adamw":
                p[:net.n_coef] -= lr * hp["weight_decay"] * p[:net.n_coef]
            p -= lr_t * s1 / (np.sqrt(s2) + hp["eps"])
    return p.copy(), total


SIZES = (4, 6, 5, 3)


def setup(loss="squared_error", activation="tanh", n=30, dtype=np.float64, seed=0):
    X, Y, sw = make_problem(loss, n=n, sizes=SIZES, seed=seed)
    net = make_net(SIZES, activation, loss, dtype=dtype, random_state=seed + 1)
    return net, X, Y, sw


@pytest.mark.parametrize("weighted", [False, True])
def test_full_batch_sgd_epoch_is_one_gradient_descent_step(weighted):
    net, X, Y, sw = setup("log_loss", "relu")
    sw = sw if weighted else None
    alpha, lr = 0.1, 0.2
    loss, cg, ig = net.loss_gradient(X, Y, sw, alpha, n_threads=1)
    g = np.concatenate([x.ravel() for x in cg + ig])
    expected = net.params - lr * g
    total, t, perm, _ = run_epoch(net, X, Y, sw, alpha=alpha, batch_size=30,
                                  hp=dict(lr=lr, momentum=0.0))
    assert t == 1
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(total, loss * 30, rtol=1e-12)
    np.testing.assert_array_equal(perm, np.arange(30))
    # a batch larger than the data is one full batch too
    net2, X, Y, sw2 = setup("log_loss", "relu")
    run_epoch(net2, X, Y, sw if weighted else None, alpha=alpha, batch_size=100,
              hp=dict(lr=lr, momentum=0.0))
    np.testing.assert_array_equal(net2.params, net.params)


@pytest.mark.parametrize("opt", sorted(OPT))
@pytest.mark.parametrize("loss, activation", [
    ("squared_error", "tanh"), ("log_loss", "relu"),
    ("binary_log_loss", "gelu"), ("poisson", "elu"),
])
def test_minibatch_epoch_matches_sequential_reference(loss, activation, opt):
    net, X, Y, sw = setup(loss, activation)
    alpha = 0.05
    ref_p, ref_total = reference_epoch(net, X, Y, sw, alpha=alpha, batch_size=7, opt=opt)
    total, t, _, _ = run_epoch(net, X, Y, sw, alpha=alpha, batch_size=7, opt=opt)
    assert t == 5   # ceil(30 / 7) updates
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


def test_epochs_chain_optimizer_state_and_step_count():
    net, X, Y, sw = setup("squared_error", "softplus")
    ref = net.copy()
    total1, t, perm, state = run_epoch(net, X, Y, sw, opt="adam", batch_size=10)
    total2, t, perm, state = run_epoch(net, X, Y, sw, opt="adam", batch_size=10,
                                       perm=perm, state=state, t=t)
    assert t == 6
    # reference over the 60 rows of two epochs, in one go
    X2, Y2, sw2 = np.vstack([X, X]), np.vstack([Y, Y]), np.concatenate([sw, sw])
    ref_p, ref_total = reference_epoch(ref, X2, Y2, sw2, batch_size=10, opt="adam")
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total1 + total2, ref_total, rtol=1e-12)


def test_shuffled_epoch_follows_the_returned_permutation():
    net, X, Y, sw = setup("log_loss", "logistic")
    ref = net.copy()
    total, _, perm, _ = run_epoch(net, X, Y, sw, shuffle=True, seed=123, alpha=0.01)
    assert not np.array_equal(perm, np.arange(30))
    np.testing.assert_array_equal(np.sort(perm), np.arange(30))
    ref_p, ref_total = reference_epoch(ref, X, Y, sw, perm=perm, alpha=0.01)
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


def test_shuffle_is_deterministic_per_seed_and_keeps_a_permutation():
    results = []
    for seed in (7, 7, 8):
        net, X, Y, sw = setup("squared_error", "relu")
        perm = None
        for epoch in range(4):
            _, _, perm, _ = run_epoch(net, X, Y, sw, shuffle=True, seed=seed + epoch,
                                      perm=perm)
            assert perm.dtype == np.intp
            np.testing.assert_array_equal(np.sort(perm), np.arange(30))
        results.append((net.params.copy(), perm.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][1], results[2][1])
    assert not np.array_equal(results[0][0], results[2][0])


@pytest.mark.parametrize("min_update_params", [32768, 1])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_two_threads_match_one_thread_and_are_reproducible(opt, min_update_params):
    runs = {}
    for T in (1, 2, 2):
        net, X, Y, sw = setup("log_loss", "tanh", n=60, seed=3)
        perm = None
        total = 0.0
        state, t = None, 0
        for epoch in range(3):
            tot, t, perm, state = run_epoch(
                net, X, Y, sw, alpha=0.01, batch_size=16, shuffle=True,
                seed=epoch, opt=opt, n_threads=T, perm=perm, state=state, t=t,
                min_update_params=min_update_params)
            total += tot
        runs.setdefault(T, []).append((net.params.copy(), total))
    (p1, l1), = runs[1]
    (p2, l2), (p2b, l2b) = runs[2]
    np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    # bitwise the same run to run for a fixed thread count
    np.testing.assert_array_equal(p2b, p2)
    assert l2b == l2


def test_two_threads_match_the_sequential_reference():
    net, X, Y, sw = setup("binary_log_loss", "leaky_relu", n=45, seed=4)
    ref_p, ref_total = reference_epoch(net, X, Y, sw, alpha=0.02, batch_size=9)
    total, _, _, _ = run_epoch(net, X, Y, sw, alpha=0.02, batch_size=9, n_threads=2,
                               min_update_params=1)
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sparse_input_gives_the_dense_result(shuffle, n_threads):
    net, X, Y, sw = setup("squared_error", "relu", n=40, seed=5)
    X[np.abs(X) < 0.7] = 0
    Xs = sp.csr_matrix(X)
    assert Xs.nnz < X.size
    dense_net = net.copy()
    total_s, _, perm_s, _ = run_epoch(net, Xs, Y, sw, shuffle=shuffle, seed=3,
                                      n_threads=n_threads, alpha=0.01)
    total_d, _, perm_d, _ = run_epoch(dense_net, X, Y, sw, shuffle=shuffle, seed=3,
                                      n_threads=n_threads, alpha=0.01)
    np.testing.assert_array_equal(perm_s, perm_d)
    np.testing.assert_allclose(net.params, dense_net.params, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(total_s, total_d, rtol=1e-13)


def test_sparse_input_placeholder_layout():
    Xs = sp.random(10, 4, density=0.3, format="csr", random_state=0)
    Xin = prepare_input(Xs, np.float32)
    assert Xin.sparse and (Xin.n_samples, Xin.n_features) == (10, 4)
    assert Xin.X.shape == (0, 4) and Xin.X.dtype == np.float32
    assert Xin.data.dtype == np.float32 and Xin.indices.dtype == np.intp
    assert Xin.indptr.dtype == np.intp and Xin.indptr.shape == (11,)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_float32_training_stays_float32_and_tracks_float64(opt):
    net64, X, Y, sw = setup("log_loss", "tanh", n=40, seed=6)
    net32 = make_net(SIZES, "tanh", "log_loss", dtype=np.float32, random_state=7)
    net64.params[:] = net32.params
    Xf = X.astype(np.float32).astype(np.float64)
    total64, perm64, st64, t64 = 0.0, None, None, 0
    total32, perm32, st32, t32 = 0.0, None, None, 0
    for epoch in range(3):
        a, t64, perm64, st64 = run_epoch(net64, Xf, Y, sw, shuffle=True, seed=epoch,
                                         opt=opt, perm=perm64, state=st64, t=t64,
                                         hp=dict(lr=0.01))
        b, t32, perm32, st32 = run_epoch(net32, Xf.astype(np.float32), Y, sw,
                                         shuffle=True, seed=epoch, opt=opt,
                                         perm=perm32, state=st32, t=t32,
                                         hp=dict(lr=0.01))
        total64 += a
        total32 += b
    assert net32.params.dtype == np.float32
    assert st32[0].dtype == np.float32
    np.testing.assert_array_equal(perm32, perm64)
    np.testing.assert_allclose(net32.params, net64.params, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(total32, total64, rtol=1e-4)


def test_training_reduces_the_loss():
    net, X, Y, sw = setup("log_loss", "relu", n=60, seed=8)
    first = net.loss_gradient(X, Y, sw)[0]
    perm, state, t = None, None, 0
    for epoch in range(30):
        _, t, perm, state = run_epoch(net, X, Y, sw, shuffle=True, seed=epoch,
                                      opt="adam", perm=perm, state=state, t=t,
                                      hp=dict(lr=0.01))
    assert net.loss_gradient(X, Y, sw)[0] < 0.8 * first


def test_bad_epoch_arguments_raise():
    net, X, Y, sw = setup()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        run_epoch(net, X, Y, batch_size=0)
    with pytest.raises(ValueError, match="perm and Y must have one row per sample"):
        run_epoch(net, X, Y, perm=np.arange(29, dtype=np.intp))
    with pytest.raises(ValueError, match="optimizer state of the wrong size"):
        run_epoch(net, X, Y, state=(np.zeros(3), np.zeros(0)))
    with pytest.raises(ValueError, match="adam needs two state buffers"):
        run_epoch(net, X, Y, opt="adam", state=(np.zeros(net.n_params), np.zeros(0)))


def test_last_batch_of_one_row_with_two_threads():
    net, X, Y, sw = setup("poisson", "softplus", n=29, seed=9)
    ref_p, ref_total = reference_epoch(net, X, Y, sw, alpha=0.03, batch_size=7, opt="rmsprop")
    total, t, _, _ = run_epoch(net, X, Y, sw, alpha=0.03, batch_size=7, opt="rmsprop",
                               n_threads=2)
    assert t == 5
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


def test_min_work_keeps_small_batches_on_one_thread():
    # With a huge min_work every batch runs unsplit: bitwise the 1-thread result.
    a, X, Y, sw = setup("log_loss", "relu", n=40, seed=10)
    b = a.copy()
    run_epoch(a, X, Y, sw, batch_size=10, n_threads=1)
    run_epoch(b, X, Y, sw, batch_size=10, n_threads=2, min_work=10 ** 12)
    np.testing.assert_array_equal(a.params, b.params)


def test_zero_weight_rows_do_not_change_the_update():
    net, X, Y, sw = setup("squared_error", "tanh", n=30, seed=11)
    other = net.copy()
    sw = sw.copy()
    sw[::2] = 0.0
    run_epoch(net, X, Y, sw, batch_size=30, alpha=0.1)
    keep = sw > 0
    run_epoch(other, X[keep], Y[keep], sw[keep], batch_size=30, alpha=0.1)
    np.testing.assert_allclose(net.params, other.params, rtol=1e-13, atol=1e-15)


def test_epoch_on_csr_with_duplicate_entries_matches_dense():
    from test_network import csr_with_duplicates
    Xs = csr_with_duplicates(seed=2, n=30, n_features=SIZES[0])
    net, _, Y, sw = setup("squared_error", "tanh", n=30, seed=12)
    dense = net.copy()
    total_s, _, _, _ = run_epoch(net, Xs, Y, sw)
    total_d, _, _, _ = run_epoch(dense, Xs.toarray(), Y, sw)
    np.testing.assert_allclose(net.params, dense.params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(total_s, total_d, rtol=1e-12)


# -- layer split (split_layers) --------------------------------------------
# Up to 4 threads each owns rows of every weight matrix (cut at multiples of
# 16 where the widths allow, with a ragged last part). On 6 threads the
# products are split one by one, with widths chosen so that every split
# runs: at batch 20 the hidden layers are wider than the block (column
# splits) and the output narrower (row split); at batch 64 the forward and
# input-delta products split by rows; the weight gradients split along k
# (n <= k) or n (n > k).
WIDE = (40, 37, 50, 6)
FIRST_WIDER = (24, 45, 40, 5)   # first layer wider than its input
# a layer of 3 units: on 4 threads, a part owns none of W_2's rows (its
# share of layer 2's output, where layer 0's share lies, is left out)
THIN = (5, 40, 3, 30, 2)


def setup_wide(loss="log_loss", activation="tanh", n=90, seed=20, dtype=np.float64,
               sizes=WIDE):
    X, Y, sw = make_problem(loss, n=n, sizes=sizes, seed=seed)
    net = make_net(sizes, activation, loss, dtype=dtype, random_state=seed + 1)
    return net, X, Y, sw


@pytest.mark.parametrize("sizes", [WIDE, FIRST_WIDER, THIN])
@pytest.mark.parametrize("n_threads", [2, 3, 4, 6])   # 6: per-product splits
@pytest.mark.parametrize("batch_size", [20, 64])
@pytest.mark.parametrize("loss, activation, opt", [
    ("log_loss", "tanh", "adam"), ("squared_error", "gelu", "sgd"),
    ("binary_log_loss", "relu", "rmsprop"),
])
def test_layer_split_matches_the_sequential_reference(loss, activation, opt,
                                                      batch_size, n_threads, sizes):
    net, X, Y, sw = setup_wide(loss, activation, sizes=sizes)
    ref_p, ref_total = reference_epoch(net, X, Y, sw, alpha=0.02,
                                       batch_size=batch_size, opt=opt)
    total, t, _, _ = run_epoch(net, X, Y, sw, alpha=0.02, batch_size=batch_size,
                               opt=opt, n_threads=n_threads, split_layers=True,
                               slots=1)
    assert t == -(-90 // batch_size)
    # GEMMs cut into other blocks round differently; rmsprop's division by
    # sqrt(s) magnifies that to ~1e-12 on small s.
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


@pytest.mark.parametrize("sizes", [WIDE, FIRST_WIDER, THIN])
def test_more_threads_than_owned_parts_still_own_rows_of_a_short_batch(sizes):
    # On 6 threads the products are split one by one, but the last batch of
    # 4 rows (90 = 2 x 43 + 4) is cut into 4 parts, which own rows.
    net, X, Y, sw = setup_wide("log_loss", "tanh", sizes=sizes)
    ref_p, ref_total = reference_epoch(net, X, Y, sw, alpha=0.02,
                                       batch_size=43, opt="adam")
    total, t, _, _ = run_epoch(net, X, Y, sw, alpha=0.02, batch_size=43,
                               opt="adam", n_threads=6, split_layers=True,
                               slots=1)
    assert t == 3
    np.testing.assert_allclose(net.params, ref_p, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_layer_split_shuffled_is_reproducible_and_matches_row_split(sparse):
    results = []
    for split in (True, True, False):
        net, X, Y, sw = setup_wide("poisson", "softplus", seed=21)
        if sparse:
            X[np.abs(X) < 0.8] = 0
            X = sp.csr_matrix(X)
        perm, state, t, total = None, None, 0, 0.0
        for epoch in range(2):
            tot, t, perm, state = run_epoch(
                net, X, Y, sw, batch_size=32, shuffle=True, seed=epoch,
                opt="adam", n_threads=3, perm=perm, state=state, t=t,
                split_layers=split, hp=dict(lr=0.01))
            total += tot
        results.append((net.params.copy(), total))
    (a, la), (b, lb), (rows, lrows) = results
    np.testing.assert_array_equal(a, b)     # bitwise, run to run
    assert la == lb
    np.testing.assert_allclose(a, rows, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(la, lrows, rtol=1e-12)


def test_layer_split_float32_tracks_float64():
    net64, X, Y, sw = setup_wide("log_loss", "relu", seed=22)
    net32 = make_net(WIDE, "relu", "log_loss", dtype=np.float32, random_state=23)
    net64.params[:] = net32.params
    Xf = X.astype(np.float32).astype(np.float64)
    run_epoch(net64, Xf, Y, sw, batch_size=20, opt="adam", n_threads=2,
              split_layers=True, hp=dict(lr=0.01))
    run_epoch(net32, Xf.astype(np.float32), Y, sw, batch_size=20, opt="adam",
              n_threads=2, split_layers=True, hp=dict(lr=0.01))
    np.testing.assert_allclose(net32.params, net64.params, rtol=1e-4, atol=1e-5)


def test_row_split_needs_a_buffer_per_thread_and_layer_split_one():
    net, X, Y, sw = setup_wide()
    with pytest.raises(ValueError, match="wrong size"):
        run_epoch(net, X, Y, sw, batch_size=20, n_threads=2, slots=1)
    run_epoch(net, X, Y, sw, batch_size=20, n_threads=2, slots=1, split_layers=True)


def test_an_uninitialized_trainer_or_predictor_raises():
    # (made by __new__ alone, no layout: a clear error, not a crash)
    from fastbp._core._predict import Predictor
    net, X, Y, _ = setup()
    tr = _backprop.Trainer.__new__(_backprop.Trainer)
    with pytest.raises(ValueError, match="not initialized"):
        tr.set_optimizer(OPT["sgd"], 0.1)
    with pytest.raises(ValueError, match="not initialized"):
        tr.gradient(prepare_input(X, net.dtype), Y, np.empty(0), np.arange(3),
                    np.empty(net.n_params))
    with pytest.raises(ValueError, match="set_optimizer first"):
        tr.epoch(prepare_input(X, net.dtype), Y, np.empty(0),
                 np.arange(30, dtype=np.intp), 0.0)
    with pytest.raises(ValueError, match="not initialized"):
        Predictor.__new__(Predictor)(X, np.empty((30, 3)))
