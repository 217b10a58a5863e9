"""scikit-learn's callback API (``sklearn.callback``, experimental in 1.9).

A fit is one task; with a stochastic solver each epoch is a subtask of it,
so that a callback's ``on_fit_task_begin`` / ``on_fit_task_end`` hooks run
once around the whole fit and once around every epoch, and an epoch's
``on_fit_task_end`` returning True stops training after that epoch (as
reaching ``max_iter`` would: the model keeps the weights it has then, or
with ``early_stopping=True`` the best ones so far). With
``solver='lbfgs'`` the fit is one task without subtasks.

The hooks get the validated training data (``X`` as fastbp trains on it,
``y`` as given, ``metadata={'sample_weight': ...}`` when weights were
given) and, when they ask for it, ``fitted_estimator``: a copy of the
estimator holding a copy of the weights at that point, ready to predict
and score. With an older scikit-learn, which has no ``sklearn.callback``,
none of this exists and estimators have no ``set_callbacks``.
"""
from contextlib import contextmanager

try:
    from sklearn.callback import CallbackSupportMixin
    from sklearn.callback._callback_support import callback_management_context
except ImportError:  # scikit-learn < 1.9
    class CallbackSupportMixin:
        """Placeholder: scikit-learn < 1.9 has no callback API."""

    callback_management_context = None


def _weights_snapshot(est):
    """Attributes making a shallow copy of `est` an independent fitted model."""
    net = est._net.copy()
    return {"_net": net, "coefs_": list(net.coefs), "intercepts_": list(net.intercepts)}


@contextmanager
def fit_task(est, X, y, sample_weight, max_subtasks):
    """The callbacks' root task around one fit (None when no callback).

    Sets the callbacks up and begins the task on entry; ends it when the
    fit succeeds; tears the callbacks down in any case.
    """
    if callback_management_context is None or not (
            getattr(est, "_skl_callbacks", None) or hasattr(est, "_parent_callback_ctx")):
        yield None
        return
    ctx = est._init_callback_context(max_subtasks=max_subtasks)
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    with callback_management_context(est):
        ctx.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=metadata)
        # The epochs' hooks get the same data.
        est._callback_data = dict(X=X, y=y, metadata=metadata)
        try:
            yield ctx
        finally:
            del est._callback_data
        ctx.call_on_fit_task_end(
            estimator=est, X=X, y=y, metadata=metadata,
            reconstruction_attributes=lambda: _weights_snapshot(est))


class EpochTasks:
    """One callback subtask per epoch of the root task of the running fit."""

    def __init__(self, est):
        self._est = est
        self._ctx = getattr(est, "_callback_fit_ctx", None)
        self._epoch = None

    def begin(self):
        if self._ctx is not None:
            self._epoch = self._ctx.subcontext(task_name="epoch")
            self._epoch.call_on_fit_task_begin(
                estimator=self._est, **self._est._callback_data,
                reconstruction_attributes=lambda: _weights_snapshot(self._est))

    def end(self):
        """End the epoch's task; True when a callback asks to stop."""
        if self._epoch is None:
            return False
        epoch, self._epoch = self._epoch, None
        return epoch.call_on_fit_task_end(
            estimator=self._est, **self._est._callback_data,
            reconstruction_attributes=lambda: _weights_snapshot(self._est))
