"""Loss-curve plots (fastbp._plot)."""
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastbp
from fastbp._plot import plot_loss_curve, save_loss_curve

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quiet_and_closed():
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
    plt.close("all")


def _fit(**params):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    base = dict(hidden_layer_sizes=(8,), max_iter=25, random_state=0)
    base.update(params)
    return fastbp.MLPClassifier(**base).fit(X, y)


def _assert_png_has_a_drawing(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    rgb = img[..., :3]
    assert rgb.std() > 0.02  # not a blank canvas
    non_white = (rgb < 0.9).any(axis=2)
    assert 0.005 < non_white.mean() < 0.5  # lines and text, mostly white
    # The curve's colour (matplotlib's C0, a blue) is drawn.
    blue = (rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.3)
    assert blue.sum() > 50


def test_plot_returns_axes_with_training_curve():
    est = _fit()
    ax = plot_loss_curve(est)
    lines = ax.get_lines()
    assert lines[0].get_label() == "training loss"
    assert np.allclose(lines[0].get_ydata(), est.loss_curve_)
    assert list(lines[0].get_xdata()) == list(range(1, est.n_iter_ + 1))
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert "MLPClassifier" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss"]


def test_plot_shows_validation_curves_with_early_stopping():
    est = _fit(early_stopping=True, max_iter=40)
    ax = plot_loss_curve(est)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["training loss", "validation loss", "validation score"]
    assert labels[3].startswith("best score")
    assert np.allclose(ax.get_lines()[1].get_ydata(), est.validation_loss_curve_)
    right = ax.right_ax
    assert np.allclose(right.get_lines()[0].get_ydata(), est.validation_scores_)
    assert right.get_ylabel() == "validation score"


def test_plot_on_given_axes_and_log_scale():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    out = plot_loss_curve(_fit(), ax=b, title="mine", log_scale=True)
    assert out is b
    assert b.get_title() == "mine" and b.get_yscale() == "log"
    assert not a.get_lines()


def test_plot_works_for_scikit_learn_and_regressor():
    from sklearn.neural_network import MLPRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=10, random_state=0)
    plot_loss_curve(est.fit(X, X[:, 0]))
    plot_loss_curve(fastbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=10,
                                        random_state=0).fit(X, X[:, 0]))


def test_png_is_written_and_not_blank(tmp_path):
    path = tmp_path / "curve.png"
    save_loss_curve(_fit(early_stopping=True, max_iter=40), path)
    assert path.stat().st_size > 5000
    _assert_png_has_a_drawing(path)


def test_errors():
    with pytest.raises(NotFittedError):
        plot_loss_curve(fastbp.MLPClassifier())
    with pytest.raises(ValueError, match="lbfgs"):
        plot_loss_curve(_fit(solver="lbfgs", max_iter=5))


def test_missing_matplotlib_gives_clear_import_error(monkeypatch):
    est = _fit()
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install fastbp\[plot\]"):
        plot_loss_curve(est)
    with pytest.raises(ImportError, match=r"pip install fastbp\[plot\]"):
        save_loss_curve(est, "never.png")
