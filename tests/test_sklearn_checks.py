"""scikit-learn's own estimator checks, run on fastbp's estimators.

Every check of ``parametrize_with_checks`` must pass, with nothing marked as
an expected failure: that is what "drop-in replacement" means to the tools
that take any scikit-learn estimator. A few other configurations (L-BFGS,
SGD, fastbp's own solver, activation and schedule) go through them too.
"""
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import (
    check_class_weight_classifiers,
    parametrize_with_checks,
)

from fastbp import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPRegressor(max_iter=100, random_state=0),
    MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
    MLPRegressor(solver="sgd", max_iter=100, random_state=0),
    MLPClassifier(solver="adamw", activation="gelu", learning_rate="cosine",
                  max_iter=100, random_state=0, n_threads=2),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _check_names(estimator):
    """Names of the checks parametrize_with_checks generates."""
    mark = parametrize_with_checks([estimator])
    names = []
    for param in mark.args[1]:
        values = getattr(param, "values", param)
        check = values[1]
        names.append(getattr(check, "func", check).__name__)
    return names


def test_class_weight_check_is_among_the_checks():
    """scikit-learn adds check_class_weight_classifiers for classifiers that
    have a class_weight parameter; fastbp's has one, so it runs."""
    assert "class_weight" in MLPClassifier().get_params()
    assert "check_class_weight_classifiers" in _check_names(
        MLPClassifier(max_iter=100, random_state=0))
    assert "check_class_weight_classifiers" not in _check_names(
        MLPRegressor(max_iter=100, random_state=0))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_check_class_weight_classifiers(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_class_weight_classifiers(
            "MLPClassifier",
            MLPClassifier(solver=solver, max_iter=200, random_state=0))
