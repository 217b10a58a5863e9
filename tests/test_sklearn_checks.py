"""scikit-learn's own estimator checks, run on fastbp's estimators.

Every check of ``parametrize_with_checks`` must pass, with nothing marked as
an expected failure: that is what "drop-in replacement" means to tools that
take any scikit-learn estimator.
"""
import pytest
from sklearn.utils.estimator_checks import (
    check_class_weight_classifiers,
    parametrize_with_checks,
)

from fastbp import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPRegressor(max_iter=100, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
