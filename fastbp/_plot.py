"""Plots of a fit: the loss per epoch, and the validation curves."""
import numpy as np

_INSTALL_HINT = ("plotting needs matplotlib: pip install fastbp[plot] "
                 "(or pip install matplotlib)")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # optional extra
        raise ImportError(_INSTALL_HINT) from exc
    return plt


#: With log_scale='auto', a loss curve whose largest value is this many times
#: its smallest gets a logarithmic axis (a first epoch's loss of 12 would
#: flatten a curve that ends at 0.05 on a linear one).
LOG_SCALE_RATIO = 20.0


def _wants_log_scale(curves):
    values = np.concatenate([np.asarray(c, dtype=float) for c in curves if c])
    values = values[np.isfinite(values)]
    return (values.size > 1 and values.min() > 0
            and values.max() / values.min() > LOG_SCALE_RATIO)


def plot_loss_curve(estimator, ax=None, *, title=None, log_scale="auto"):
    """Plot the training loss per epoch of a fitted MLP.

    Draws ``loss_curve_`` (training loss) and, when the fit used early
    stopping, ``validation_loss_curve_`` on the same axes, and
    ``validation_scores_`` on a second y axis at the right, with the epoch
    of the best validation score marked.

    Parameters
    ----------
    estimator : fitted fastbp (or scikit-learn) MLPClassifier / MLPRegressor
        Fitted with a stochastic solver (lbfgs keeps no loss curve).
    ax : matplotlib Axes, optional
        Where to draw; default a new figure's axes.
    title : str, optional
        Default: the estimator's class, solver and number of epochs.
    log_scale : bool or 'auto', default='auto'
        Logarithmic loss axis; 'auto' chooses it when the largest loss is
        more than 20 times the smallest, so that a high first epoch does
        not flatten the rest of the curve.

    Returns
    -------
    ax : matplotlib Axes
        The axes holding the loss curves (the score axis is ``ax.right_ax``
        when drawn). Save the figure with ``ax.figure.savefig("curve.png")``.

    Raises
    ------
    ImportError
        If matplotlib is missing.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If it was fitted with 'lbfgs', which records no loss per epoch.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_digits
    >>> import fastbp
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = fastbp.MLPClassifier(max_iter=20, early_stopping=True,
    ...                            random_state=0).fit(X, y)
    >>> ax = fastbp.plot_loss_curve(clf)
    >>> ax.get_yscale()                  # the first epochs' loss is high
    'log'
    >>> ax.figure.savefig(os.path.join(tempfile.mkdtemp(), "curve.png"))
    """
    curve = getattr(estimator, "loss_curve_", None)
    if curve is None:
        if not hasattr(estimator, "coefs_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(estimator).__name__} instance is not fitted yet: "
                "fit it before plotting its loss curve.")
        raise ValueError(
            f"{type(estimator).__name__} has no loss curve: the solver "
            f"{getattr(estimator, 'solver', '?')!r} does not record the loss per "
            "epoch (use a stochastic solver such as 'adam' or 'sgd').")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(7, 4.2), layout="constrained")

    epochs = np.arange(1, len(curve) + 1)
    lines = ax.plot(epochs, curve, color="C0", lw=1.8, label="training loss")
    val_loss = getattr(estimator, "validation_loss_curve_", None)
    if val_loss:
        lines += ax.plot(np.arange(1, len(val_loss) + 1), val_loss, color="C1",
                         lw=1.8, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log_scale == "auto":
        log_scale = _wants_log_scale([curve, val_loss])
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    # Epochs are whole numbers: no tick at 2.5.
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    scores = getattr(estimator, "validation_scores_", None)
    if scores:
        right = ax.twinx()
        score_epochs = np.arange(1, len(scores) + 1)
        lines += right.plot(score_epochs, scores, color="C2", lw=1.4, ls="--",
                            label="validation score")
        best = int(np.nanargmax(scores))
        lines += right.plot(score_epochs[best], scores[best], "o", color="C2",
                            ms=6, label=f"best score {scores[best]:.4g} "
                                        f"(epoch {best + 1})")
        right.set_ylabel("validation score")
        ax.right_ax = right
    if title is None:
        title = (f"{type(estimator).__name__} ({getattr(estimator, 'solver', '')}): "
                 f"{len(curve)} epoch{'s' if len(curve) != 1 else ''}, final loss "
                 f"{curve[-1]:.4g}")
    ax.set_title(title)
    # A falling loss leaves the upper right free; a rising score takes it.
    ax.legend(lines, [line.get_label() for line in lines],
              loc="center right" if scores else "upper right", framealpha=0.9)
    return ax


def save_loss_curve(estimator, path, *, dpi=120, **kwargs):
    """Write the loss curve of a fitted estimator to an image file (Agg).

    Uses matplotlib's non-interactive Agg canvas, so it works without a
    display and does not change pyplot's backend. kwargs go to
    :func:`plot_loss_curve`.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plot_loss_curve(estimator, ax=ax, **kwargs)
    fig.savefig(path, dpi=dpi)
    return path
