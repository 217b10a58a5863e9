"""The integer-label fast paths of MLPClassifier give what scikit-learn's
LabelBinarizer gives (they skip type_of_target, which costs more than an
epoch on small data)."""
import numpy as np
import pytest
from sklearn.preprocessing import LabelBinarizer

from fastbp import MLPClassifier
from fastbp._labels import _binarize, _fit_label_binarizer, _unique_labels


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
@pytest.mark.parametrize("labels", [[0, 1], [3, 7], [0, 1, 2], [2, 5, 9, 11]])
def test_integer_labels_binarize_as_label_binarizer_does(dtype, labels):
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(labels, dtype=dtype), 50)
    y[: len(labels)] = labels
    ours, ref = _fit_label_binarizer(y), LabelBinarizer().fit(y)
    assert ours.y_type_ == ref.y_type_
    assert ours.sparse_input_ == ref.sparse_input_
    assert ours.classes_.dtype == ref.classes_.dtype
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_array_equal(_unique_labels(y), ref.classes_)
    got = _binarize(ours, y)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, ref.transform(y).astype(bool))


def test_negative_labels_and_a_subset_of_the_classes():
    lb = LabelBinarizer().fit(np.array([-3, 0, 4, 10]))
    y = np.array([10, -3, 10, 4])       # a mini-batch without class 0
    np.testing.assert_array_equal(_binarize(lb, y), lb.transform(y).astype(bool))


def test_an_unknown_label_still_gets_scikit_learns_answer():
    lb = LabelBinarizer().fit(np.array([0, 1, 2]))
    y = np.array([0, 5, 2])
    np.testing.assert_array_equal(_binarize(lb, y), lb.transform(y).astype(bool))


def test_other_labels_take_label_binarizer():
    for y in (np.array(["a", "b", "c", "a"]), np.array([0.0, 1.0, 2.0, 1.0]),
              np.array([[1, 0], [0, 1], [1, 1]])):
        ours, ref = _fit_label_binarizer(y), LabelBinarizer().fit(y)
        assert ours.y_type_ == ref.y_type_
        np.testing.assert_array_equal(_binarize(ours, y), ref.transform(y).astype(bool))


def test_classifier_fits_integer_and_string_labels_the_same():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 5))
    y = rng.integers(0, 3, 120)
    animals = np.array(["ant", "bee", "cat"])
    names = animals[y]
    a = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, names)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(animals[a.predict(X)], b.predict(X))
