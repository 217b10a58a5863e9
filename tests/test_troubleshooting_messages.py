"""fastbp's ConvergenceWarning and its divergence messages send the reader
to the user guide's "Practical use and troubleshooting" page
(docs/user_guide/troubleshooting.rst) by its name."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp import MLPClassifier, MLPRegressor

PAGE = "See 'Practical use and troubleshooting' in fastbp's user guide."


def _digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def test_convergence_warning_names_the_troubleshooting_page():
    X, y = _digits()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations") as caught:
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert messages and all(m.endswith(PAGE) for m in messages)


def test_convergence_warning_of_an_out_of_core_fit_names_the_page():
    X, y = _digits()
    source = fastbp.stream(X.astype(np.float32), window_bytes=2**14)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations") as caught:
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(source, y)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert messages and all(m.endswith(PAGE) for m in messages)


def test_divergence_error_names_the_troubleshooting_page():
    Xr, yr = make_regression(200, 10, random_state=0)
    reg = MLPRegressor(solver="sgd", learning_rate_init=10, max_iter=30, random_state=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="Training diverged") as info:
            reg.fit(Xr, yr)
    assert str(info.value).endswith(PAGE)


def test_divergence_warning_with_early_stopping_names_the_page():
    Xi, yi = load_iris(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                       learning_rate_init=1, max_iter=20, early_stopping=True,
                       random_state=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(RuntimeWarning, match="Training diverged") as caught:
            reg.fit(Xi, yi)
    messages = [str(w.message) for w in caught if "Training diverged" in str(w.message)]
    assert messages and all(m.endswith(PAGE) for m in messages)


def test_dead_network_warning_names_the_troubleshooting_page():
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(RuntimeWarning, match="same output for every sample") as caught:
            MLPClassifier(solver="sgd", learning_rate_init=10, max_iter=30,
                          random_state=0).fit(X, y)
    messages = [str(w.message) for w in caught if "same output" in str(w.message)]
    assert messages and all(m.endswith(PAGE) for m in messages)
