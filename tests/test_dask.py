"""fastbp under dask: dask-ml's Incremental and ParallelPostFit, and
scikit-learn's GridSearchCV on joblib's dask backend, on a LocalCluster of
worker processes (the estimators travel pickled)."""
import os
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification

from fastbp import MLPClassifier, MLPRegressor

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::DeprecationWarning", "ignore::FutureWarning",
    "ignore::ResourceWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def client():
    # LocalCluster sets OMP_NUM_THREADS=1 (its workers' setting) in this
    # process's environment and leaves it: later tests' subprocesses would
    # inherit it
    environ = dict(os.environ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        os.environ.clear()
        os.environ.update(environ)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(4000, 20, n_informative=10, n_classes=3,
                               random_state=0)
    return X.astype(np.float32), y


def test_incremental_trains_block_by_block_on_the_workers(client, data):
    X, y = data
    dX = da.from_array(X, chunks=(500, 20))
    dy = da.from_array(y, chunks=500)
    inc = wrappers.Incremental(
        MLPClassifier((32,), random_state=0, learning_rate_init=0.01), scoring="accuracy")
    inc.fit(dX, dy, classes=np.unique(y))
    est = inc.estimator_
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 8   # one partial_fit per block
    assert inc.score(dX, dy) > 0.7
    # a model that went to a worker and back is whole
    assert est.network_.params.size > 0
    np.testing.assert_array_equal(inc.predict(dX).compute(), est.predict(X))


def test_incremental_over_a_zarr_array(client, data, tmp_path):
    zarr = pytest.importorskip("zarr")
    X, y = data
    z = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape,
                        chunks=(1000, 20), dtype="f4")
    z[...] = X
    dX = da.from_zarr(str(tmp_path / "X.zarr"))
    dy = da.from_array(y, chunks=1000)
    inc = wrappers.Incremental(MLPClassifier((16,), random_state=0))
    inc.fit(dX, dy, classes=np.unique(y))
    assert len(inc.estimator_.loss_curve_) == 4


def test_parallel_post_fit_predicts_on_the_workers(client, data):
    X, y = data
    clf = wrappers.ParallelPostFit(
        MLPClassifier((16,), max_iter=20, random_state=0)).fit(X, y)
    dX = da.from_array(X, chunks=(1000, 20))
    np.testing.assert_array_equal(clf.predict(dX).compute(), clf.estimator.predict(X))
    np.testing.assert_allclose(clf.predict_proba(dX).compute(),
                               clf.estimator.predict_proba(X), rtol=1e-5)  # float32, other blocks


def test_grid_search_on_the_dask_joblib_backend(client, data):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = data
    grid = GridSearchCV(MLPClassifier(max_iter=10, random_state=0),
                        {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-2]},
                        cv=2, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        grid.fit(X, y)
    local = GridSearchCV(MLPClassifier(max_iter=10, random_state=0, n_threads=1),
                         {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-2]},
                         cv=2).fit(X, y)
    # the same fits (one thread each on a dask worker): the same scores
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert grid.best_params_ == local.best_params_


def test_dask_array_fit_in_the_client_process(client, data):
    X, y = data
    dX = da.from_array(X, chunks=(400, 20))
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0,
                       n_threads=1).fit(dX, y.astype(np.float64))
    assert reg.n_iter_ == 5


def test_workers_run_one_thread(client):
    # dask's nannies start workers with OMP_NUM_THREADS=1: fastbp takes it
    # as the cores it may use, for n_threads=None and larger requests alike
    def threads(n):
        import os
        import warnings

        from fastbp._threads import resolve_n_threads

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return os.environ.get("OMP_NUM_THREADS"), resolve_n_threads(n)

    assert client.submit(threads, None, pure=False).result() == ("1", 1)
    assert client.submit(threads, 2, pure=False).result() == ("1", 1)
